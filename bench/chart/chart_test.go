package chart

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
)

// wellFormed parses svg as XML to its end.
func wellFormed(t *testing.T, svg []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
	}
}

func TestLineChart(t *testing.T) {
	c := Line{Title: "lag <p99> & max", XLabel: "s", YLabel: "ms", LogY: true,
		Series: []Series{
			{Name: "timerd", X: []float64{0, 1, 2}, Y: []float64{0.5, 2, 0}},
			{Name: "nats-sched", X: []float64{0, 1, 2}, Y: []float64{300, 800, 770}, Dashed: true},
		},
		Marks: []Mark{{X: 1.5, Label: "kill"}}}
	svg := c.SVG()
	wellFormed(t, svg)
	s := string(svg)
	for _, want := range []string{"lag &lt;p99&gt; &amp; max", "timerd", "nats-sched", "stroke-dasharray", "kill", ">1k<", ">0.1<"} {
		if !strings.Contains(s, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	if !bytes.Equal(svg, c.SVG()) {
		t.Error("rendering is not deterministic")
	}
}

func TestLineChartEmptyAndLinear(t *testing.T) {
	wellFormed(t, Line{Title: "empty"}.SVG())
	svg := Line{Series: []Series{{Name: "a", X: []float64{0, 10}, Y: []float64{0, 95}}}}.SVG()
	wellFormed(t, svg)
	if !strings.Contains(string(svg), ">100<") {
		t.Errorf("linear axis should reach 100:\n%s", svg)
	}
}

func TestBars(t *testing.T) {
	c := Bars{Title: "rates", Unit: "timers/s", Series: []string{"ingest", "fire"},
		Labels: []string{"nats-sched", "timerd-batch"},
		Values: [][]float64{{42000, 30000}, {180000, math.NaN()}}}
	svg := c.SVG()
	wellFormed(t, svg)
	s := string(svg)
	if strings.Count(s, "<rect x=\"0\" y=") != 3+2 { // 3 bars + 2 legend swatches
		t.Errorf("want 3 bars and 2 legend swatches:\n%s", s)
	}
	for _, want := range []string{"180k", "42k", "timerd-batch"} {
		if !strings.Contains(s, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
}

func TestNiceStep(t *testing.T) {
	for _, c := range []struct{ span, want float64 }{{10, 2}, {100, 20}, {7, 2}, {0.3, 0.1}, {1e6, 2e5}} {
		if got := niceStep(c.span, 5); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("niceStep(%v) = %v, want %v", c.span, got, c.want)
		}
	}
}
