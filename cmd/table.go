package cmd

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// writeTable prints rows the way virsh's vsh-table does: every cell after one
// space, every cell but the last padded to its column's width plus two, the
// last unpadded, and a rule of sum(width+3) dashes under the header.
func writeTable(w io.Writer, header []string, rows [][]string, quiet bool) {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			b.WriteByte(' ')
			b.WriteString(c)
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		fmt.Fprintln(w, b.String())
	}
	if !quiet {
		line(header)
		rule := 0
		for _, wd := range widths {
			rule += wd + 3
		}
		fmt.Fprintln(w, strings.Repeat("-", rule))
	}
	for _, r := range rows {
		line(r)
	}
}
