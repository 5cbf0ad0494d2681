# error.gp - the tracker's error per size: tracked bytes minus the size-1
# baseline minus the bytes the workload asked malloc for (errors.csv column
# 12), and the same against glibc's mmap length (column 14).
# Variables (gnuplot -e): errs = errors.csv, out = PNG file, subtitle,
# workloads = space-separated workload names found in errs.
if (!exists("subtitle")) subtitle = ""
if (!exists("workloads")) workloads = "malloc-wl bytearray-wl"
set terminal pngcairo size 1100,750 enhanced font "sans,10"
set output out
set datafile separator ","
set datafile missing ""
set title "Tracker error per size: tracked - baseline(size 1) - allocator bytes\n{/*0.8 ".subtitle."}"
set xlabel "requested size (bytes)"
set ylabel "error (bytes)"
set logscale x 2
set format x "2^{%L}"
set xtics 4
set grid xtics ytics
set key outside bottom center horizontal
is(w) = (strcol(1) eq w)
colour(i) = word("#1f77b4 #d62728 #2ca02c #9467bd", i)
cmd = "plot 0 with lines lc rgb 'gray' notitle"
do for [i = 1:words(workloads)] {
	w = word(workloads, i)
	cmd = cmd . sprintf(", errs every ::1 using 2:(is('%s') ? column(12) : 1/0) with linespoints lw 2 pt 7 ps 0.8 dt %d lc rgb '%s' title '%s'", w, i, colour(i), w)
	cmd = cmd . sprintf(", errs every ::1 using 2:(is('%s') ? column(14) : 1/0) with points pt %d ps 1.4 lc rgb '%s' title '%s: delta - glibc mmap length'", w, 4 + 2 * i, colour(i), w)
}
eval cmd
