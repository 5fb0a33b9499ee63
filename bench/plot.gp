# bench/plot.gp: the charts, from the .dat files bench/report.py writes
# (tab-separated: system, two figures, a note; "?" is a figure this run does
# not have, its bar left out and the note saying why at its foot).
#   gnuplot -e "outdir='build/bench'; term='pngcairo'; nstreams=2" bench/plot.gp
if (!exists("outdir")) outdir = "build/bench"
if (!exists("term")) term = "pngcairo"
if (!exists("nstreams")) nstreams = 2
if (term eq "pngcairo") { set terminal pngcairo size 1000,560 font ",10" } else { set terminal png size 1000,560 }
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
set xtics nomirror rotate by 15 right
set ytics nomirror
do for [chart in "throughput handshakes"] {
	t = chart eq "throughput"
	set output outdir."/".chart.".png"
	set title (t ? "Bulk throughput through each mTLS pair (loopback, TLS 1.3)" : \
	    "Full and resumed mTLS handshakes per second through each pair")
	set ylabel (t ? "Gbit/s" : "handshakes/s")
	fmt = t ? "%.2f" : "%.0f"
	plot outdir."/".chart.".dat" using 2:xtic(1) title (t ? "1 stream" : "full") lc rgb (t ? "#3465a4" : "#cc0000"), \
	     "" using 3 title (t ? sprintf("%d streams", nstreams) : "resumed") lc rgb (t ? "#73d216" : "#f57900"), \
	     "" using ($0 - 0.15):2:(sprintf(fmt, $2)) with labels offset 0,0.7 notitle, \
	     "" using ($0 + 0.15):3:(sprintf(fmt, $3)) with labels offset 0,0.7 notitle, \
	     "" using ($0 + (strcol(4)[1:1] eq "(" ? 0.2 : 0)):(0):(strcol(4) eq "-" ? "" : strcol(4)) with labels offset 0,0.7 notitle
}
