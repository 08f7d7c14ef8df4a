// Package chart draws the small, dependency-free SVG charts of the bench
// and loadtest reports: a line chart (linear or logarithmic y axis) for
// series over time, and a grouped horizontal bar chart for rates. Output is
// deterministic for the same input, so reports diff cleanly.
package chart

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
)

// palette is colour-blind friendly (Okabe–Ito), in series order.
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"}

// Color returns the colour of series i.
func Color(i int) string { return palette[i%len(palette)] }

const (
	marginLeft   = 70
	marginRight  = 170 // legend
	marginTop    = 36
	marginBottom = 46
)

// Series is one line: points (X[i], Y[i]).
type Series struct {
	Name   string
	X, Y   []float64
	Dashed bool
	Color  string // "" takes the palette colour of its index
}

// Line is a line chart.
type Line struct {
	Title, XLabel, YLabel string
	LogY                  bool // y on a log10 axis; values <= 0 are drawn at the bottom
	Width, Height         int  // 0: 760 x 360
	Series                []Series
	Marks                 []Mark // vertical markers (faults, restarts)
}

// Mark is a labelled vertical line at X.
type Mark struct {
	X     float64
	Label string
}

func esc(s string) string { return html.EscapeString(s) }

// fmtNum prints an axis number compactly: 1500 -> 1.5k, 0.25 -> 0.25.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

// niceStep returns a step of 1, 2 or 5 times a power of ten that splits
// span into about n parts.
func niceStep(span float64, n int) float64 {
	if span <= 0 || math.IsInf(span, 0) || math.IsNaN(span) {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// linearTicks returns the ticks of [lo, hi] widened to whole steps.
func linearTicks(lo, hi float64) (ticks []float64, newLo, newHi float64) {
	if hi <= lo {
		hi = lo + 1
	}
	step := niceStep(hi-lo, 5)
	newLo = math.Floor(lo/step) * step
	newHi = math.Ceil(hi/step) * step
	for v := newLo; v <= newHi+step/2 && len(ticks) < 50; v += step {
		ticks = append(ticks, math.Round(v/step)*step)
	}
	return ticks, newLo, newHi
}

// SVG renders the chart.
func (c Line) SVG() []byte {
	w, h := c.Width, c.Height
	if w == 0 {
		w = 760
	}
	if h == 0 {
		h = 360
	}
	pw, ph := float64(w-marginLeft-marginRight), float64(h-marginTop-marginBottom)
	xlo, xhi := math.Inf(1), math.Inf(-1)
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for i := range s.X {
			xlo, xhi = math.Min(xlo, s.X[i]), math.Max(xhi, s.X[i])
			y := s.Y[i]
			if c.LogY && y <= 0 {
				continue
			}
			ylo, yhi = math.Min(ylo, y), math.Max(yhi, y)
		}
	}
	for _, m := range c.Marks {
		xlo, xhi = math.Min(xlo, m.X), math.Max(xhi, m.X)
	}
	if math.IsInf(xlo, 0) {
		xlo, xhi = 0, 1
	}
	if math.IsInf(ylo, 0) {
		ylo, yhi = 1, 10
	}
	xt, xlo, xhi := linearTicks(xlo, xhi)
	var yt []float64
	var ymap func(float64) float64
	if c.LogY {
		lo := math.Floor(math.Log10(ylo))
		hi := math.Ceil(math.Log10(yhi))
		if hi <= lo {
			hi = lo + 1
		}
		for e := lo; e <= hi; e++ {
			yt = append(yt, math.Pow(10, e))
		}
		ymap = func(v float64) float64 {
			if v <= 0 {
				return ph
			}
			return ph - (math.Log10(v)-lo)/(hi-lo)*ph
		}
	} else {
		if ylo > 0 {
			ylo = 0
		}
		var l, hh float64
		yt, l, hh = linearTicks(ylo, yhi)
		ymap = func(v float64) float64 { return ph - (v-l)/(hh-l)*ph }
	}
	xmap := func(v float64) float64 { return (v - xlo) / (xhi - xlo) * pw }

	var b bytes.Buffer
	header(&b, w, h, c.Title)
	fmt.Fprintf(&b, `<g transform="translate(%d,%d)">`+"\n", marginLeft, marginTop)
	fmt.Fprintf(&b, `<rect width="%.0f" height="%.0f" fill="none" stroke="#999"/>`+"\n", pw, ph)
	for _, v := range yt {
		y := ymap(v)
		fmt.Fprintf(&b, `<line x1="0" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/>`, pw, y, y)
		fmt.Fprintf(&b, `<text x="-6" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", y, esc(fmtNum(v)))
	}
	for _, v := range xt {
		x := xmap(v)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="0" y2="%.1f" stroke="#f0f0f0"/>`, x, x, ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, ph+16, esc(fmtNum(v)))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", pw/2, ph+36, esc(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(-52,%.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", ph/2, esc(c.YLabel))
	for _, m := range c.Marks {
		x := xmap(m.X)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="0" y2="%.1f" stroke="#b00" stroke-dasharray="2,3"/>`, x, x, ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="-4" text-anchor="middle" fill="#b00" font-size="10">%s</text>`+"\n", x, esc(m.Label))
	}
	for i, s := range c.Series {
		col := s.Color
		if col == "" {
			col = Color(i)
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="5,3"`
		}
		var pts bytes.Buffer
		for k := range s.X {
			fmt.Fprintf(&pts, "%.1f,%.1f ", xmap(s.X[k]), ymap(s.Y[k]))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6"%s points="%s"/>`+"\n", col, dash, bytes.TrimSpace(pts.Bytes()))
		ly := 10 + float64(i)*16
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`, pw+12, pw+32, ly, ly, col, dash)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" dominant-baseline="middle">%s</text>`+"\n", pw+36, ly, esc(s.Name))
	}
	b.WriteString("</g>\n</svg>\n")
	return b.Bytes()
}

func header(b *bytes.Buffer, w, h int, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", w, h, w, h)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", w, h)
	fmt.Fprintf(b, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", marginLeft, esc(title))
}
