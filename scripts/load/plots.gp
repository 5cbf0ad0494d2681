# plots.gp - load.sh's picture: what each tracker lost (above) and what it
# cost a call (below) against the rate, a line per tracker and thread count.
# Variables (gnuplot -e): loss, cost = the data files (wlreport load table:
# blocks of "RATE VALUE" lines, each after its title in quotes), out = PNG
# file, subtitle, what (the workload, for the title).
if (!exists("subtitle")) subtitle = ""
if (!exists("what")) what = "rate-wl at a rate"
set terminal pngcairo size 1200,1100 enhanced font "sans,10"
set output out
set multiplot layout 2,1 title "Trackers under load: ".what.", each run beside the same run alone\n{/*0.8 ".subtitle."}"
set logscale x 10
set format x "10^{%L}"
set xlabel "calls a second, each thread's (max: where the run alone got)"
set key outside right top noenhanced
set grid
n = 0
stats loss nooutput
n = STATS_blocks
set ylabel "calls the tracker did not count (share)"
set yrange [0:1.05]
set title "Loss"
plot for [i=0:n-1] loss index i using 1:2 with linespoints pointsize 1.2 title columnheader(1)
set ylabel "ns a call added (a thread's wall time)"
set autoscale y
set title "Cost a call"
stats cost nooutput
n = STATS_blocks
plot for [i=0:n-1] cost index i using 1:2 with linespoints pointsize 1.2 title columnheader(1)
unset multiplot
