package chart

import (
	"bytes"
	"fmt"
	"math"
)

// Bars is a grouped horizontal bar chart: one group per Label, one bar per
// series within it (Series names the bars, Values[group][series]).
type Bars struct {
	Title, Unit string
	Series      []string
	Labels      []string
	Values      [][]float64 // [len(Labels)][len(Series)]; NaN or < 0: no bar
	Width       int         // 0: 760
}

// SVG renders the chart.
func (c Bars) SVG() []byte {
	w := c.Width
	if w == 0 {
		w = 760
	}
	const labelW, barH, gap = 150, 14, 10
	groupH := float64(len(c.Series))*barH + gap
	ph := groupH * float64(len(c.Labels))
	h := int(ph) + marginTop + marginBottom + 16*len(c.Series)
	pw := float64(w - labelW - 90)
	hi := 0.0
	for _, row := range c.Values {
		for _, v := range row {
			if !math.IsNaN(v) {
				hi = math.Max(hi, v)
			}
		}
	}
	ticks, _, top := linearTicks(0, math.Max(hi, 1))
	xmap := func(v float64) float64 { return v / top * pw }

	var b bytes.Buffer
	header(&b, w, h, c.Title)
	fmt.Fprintf(&b, `<g transform="translate(%d,%d)">`+"\n", labelW, marginTop)
	for _, t := range ticks {
		x := xmap(t)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="0" y2="%.1f" stroke="#e5e5e5"/>`, x, x, ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, ph+14, esc(fmtNum(t)))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", pw/2, ph+30, esc(c.Unit))
	for g, label := range c.Labels {
		y0 := float64(g) * groupH
		fmt.Fprintf(&b, `<text x="-8" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", y0+groupH/2-gap/2, esc(label))
		for s := range c.Series {
			if g >= len(c.Values) || s >= len(c.Values[g]) {
				continue
			}
			v := c.Values[g][s]
			if math.IsNaN(v) || v < 0 {
				continue
			}
			y := y0 + float64(s)*barH
			fmt.Fprintf(&b, `<rect x="0" y="%.1f" width="%.1f" height="%d" fill="%s"/>`, y, math.Max(xmap(v), 0.5), barH-2, Color(s))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" dominant-baseline="middle" font-size="10">%s</text>`+"\n", xmap(v)+4, y+barH/2-1, esc(fmtNum(sig3(v))))
		}
	}
	for s, name := range c.Series {
		y := ph + 46 + float64(s)*16
		fmt.Fprintf(&b, `<rect x="0" y="%.1f" width="12" height="10" fill="%s"/>`, y-5, Color(s))
		fmt.Fprintf(&b, `<text x="18" y="%.1f" dominant-baseline="middle">%s</text>`+"\n", y, esc(name))
	}
	b.WriteString("</g>\n</svg>\n")
	return b.Bytes()
}

// sig3 rounds v to three significant digits, for bar labels.
func sig3(v float64) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(math.Abs(v)))-2)
	return math.Round(v/p) * p
}
