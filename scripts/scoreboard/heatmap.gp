# heatmap.gp - the scoreboard's heat map: a row a tracker, a column a path,
# the colour the cell's class. Variables (gnuplot -e): data = heat.dat
# (wlreport scoreboard table: X, Y, CODE, PATH, TRACKER, LABEL tab-separated;
# CODE the class's place in exact, rounded, noise, double, phantom, missed,
# misattributed, failed, unstable; -1 skipped, -2 n/a), out = PNG file, subtitle.
if (!exists("subtitle")) subtitle = ""
set terminal pngcairo size 2400,760 enhanced font "sans,9"
set output out
set datafile separator "\t"
set title "Tracker scoreboard: each cell's class against the workload's own account\n{/*0.8 ".subtitle."}"
set xrange [-0.5:*]
set yrange [*:*] reverse
set xtics rotate by 30 right nomirror noenhanced
set ytics nomirror noenhanced
set tics scale 0
unset key
set cbrange [-2.5:8.5]
# n/a, skipped, exact, rounded, noise, double, phantom, missed, misattributed, failed, unstable
set palette defined (-2.5 "#ffffff", -1.5 "#ffffff", -1.5 "#d9d9d9", -0.5 "#d9d9d9", -0.5 "#1a9850", 0.5 "#1a9850", 0.5 "#a6d96a", 1.5 "#a6d96a", \
	1.5 "#fee08b", 2.5 "#fee08b", 2.5 "#fdae61", 3.5 "#fdae61", 3.5 "#f46d43", 4.5 "#f46d43", \
	4.5 "#d73027", 5.5 "#d73027", 5.5 "#9e0142", 6.5 "#9e0142", 6.5 "#404040", 7.5 "#404040", 7.5 "#762a83", 8.5 "#762a83")
set cbtics ("n/a" -2, "skipped" -1, "exact" 0, "rounded" 1, "noise" 2, "double" 3, "phantom" 4, "missed" 5, "misattributed" 6, "failed" 7, "unstable" 8)
plot data using 1:2:3:xtic(4):ytic(5) with image, \
	data using 1:2:6 with labels font "sans,8" tc rgb "black"
