# bench/plot.gp: bar charts of the benchmark, from the .dat files that
# bench/report.py writes (tab-separated: system and figures; "#" lines are
# comments).
#   gnuplot -e "outdir='build/bench'; term='pngcairo'; nstreams=2" bench/plot.gp
# "?" in a .dat file is a figure this run does not have (a system that is n/a
# or failed): its bar is left out, and the last column's note ("-" for none)
# says why at its foot.
if (!exists("outdir")) outdir = "build/bench"
if (!exists("term")) term = "pngcairo"
if (!exists("nstreams")) nstreams = 2
if (term eq "pngcairo") {
	set terminal pngcairo size 1000,560 font ",10"
} else {
	set terminal png size 1000,560
}
set datafile separator "\t"
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key tmargin horizontal
set grid ytics
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0	# room for the value above the tallest bar
set xtics nomirror rotate by 15 right	# room for the longer mtlsd row names
set ytics nomirror

set output outdir."/throughput.png"
set title "Bulk throughput through each mTLS pair (loopback, TLS 1.3)"
set ylabel "Gbit/s"
plot outdir."/throughput.dat" using 2:xtic(1) title "1 stream" lc rgb "#3465a4", \
     "" using 3 title sprintf("%d streams", nstreams) lc rgb "#73d216", \
     "" using ($0 - 0.15):2:(sprintf("%.2f", $2)) with labels offset 0,0.7 notitle, \
     "" using ($0 + 0.15):3:(sprintf("%.2f", $3)) with labels offset 0,0.7 notitle, \
     "" using ($0 + (strcol(4)[1:1] eq "(" ? 0.2 : 0)):(0):(strcol(4) eq "-" ? "" : strcol(4)) with labels offset 0,0.7 notitle

set output outdir."/handshakes.png"
set title "Full and resumed mTLS handshakes per second through each pair"
set ylabel "handshakes/s"
plot outdir."/handshakes.dat" using 2:xtic(1) title "full" lc rgb "#cc0000", \
     "" using 3 title "resumed" lc rgb "#f57900", \
     "" using ($0 - 0.15):2:(sprintf("%.0f", $2)) with labels offset 0,0.7 notitle, \
     "" using ($0 + 0.15):3:(sprintf("%.0f", $3)) with labels offset 0,0.7 notitle, \
     "" using ($0 + (strcol(4)[1:1] eq "(" ? 0.2 : 0)):(0):(strcol(4) eq "-" ? "" : strcol(4)) with labels offset 0,0.7 notitle
