# tracked.gp - tracked bytes against requested size, log-log, one line per
# workload. Variables (gnuplot -e): data = DATA.csv, out = PNG file,
# subtitle = text under the title, has_m/has_b/has_k = 1 when the malloc,
# bytearray or kmalloc column holds any value.
if (!exists("subtitle")) subtitle = ""
if (!exists("has_m")) has_m = 1
if (!exists("has_b")) has_b = 1
if (!exists("has_k")) has_k = 0
set terminal pngcairo size 1100,700 enhanced font "sans,10"
set output out
set datafile separator ","
set datafile missing ""
set title "Tracked bytes per process vs requested size\n{/*0.8 ".subtitle."}"
set xlabel "requested size (bytes)"
set ylabel "tracked bytes (median)"
set logscale xy 2
set format x "2^{%L}"
set format y "2^{%L}"
set xtics 4
set grid xtics ytics
set key top left
cmd = "plot data every ::1 using 1:1 with lines dt 2 lc rgb 'gray' title 'y = size'"
if (has_m) cmd = cmd . ", data every ::1 using 1:(column(2) > 0 ? column(2) : 1/0) with linespoints lw 2 pt 7 ps 0.8 lc rgb '#1f77b4' title 'malloc-wl (user space)'"
if (has_b) cmd = cmd . ", data every ::1 using 1:(column(3) > 0 ? column(3) : 1/0) with linespoints dt 3 lw 2 pt 4 ps 1.2 lc rgb '#d62728' title 'bytearray-wl (user space)'"
if (has_k) cmd = cmd . ", data every ::1 using 1:(column(4) > 0 ? column(4) : 1/0) with linespoints lw 2 pt 9 ps 0.9 lc rgb '#2ca02c' title 'kmalloc (kernel space)'"
eval cmd
