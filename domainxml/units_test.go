package domainxml

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	const (
		ki = 1024
		mi = ki * ki
		gi = mi * ki
		ti = gi * ki
		pi = ti * ki
		ei = pi * ki
	)
	ok := []struct {
		value, unit, def string
		want             uint64
	}{
		{"7", "b", "KiB", 7},
		{"7", "B", "KiB", 7},
		{"7", "byte", "KiB", 7},
		{"7", "bytes", "KiB", 7},
		{"7", "k", "b", 7 * ki},
		{"7", "K", "b", 7 * ki},
		{"7", "KiB", "b", 7 * ki},
		{"7", "kib", "b", 7 * ki},
		{"7", "KB", "b", 7000},
		{"7", "kb", "b", 7000},
		{"7", "M", "b", 7 * mi},
		{"7", "MiB", "b", 7 * mi},
		{"7", "MB", "b", 7e6},
		{"7", "G", "b", 7 * gi},
		{"7", "GiB", "b", 7 * gi},
		{"7", "GB", "b", 7e9},
		{"7", "T", "b", 7 * ti},
		{"7", "TiB", "b", 7 * ti},
		{"7", "TB", "b", 7e12},
		{"7", "P", "b", 7 * pi},
		{"7", "PiB", "b", 7 * pi},
		{"7", "PB", "b", 7e15},
		{"7", "E", "b", 7 * ei},
		{"7", "EiB", "b", 7 * ei},
		{"7", "EB", "b", 7e18},
		{"500000", "", "KiB", 500000 * ki}, // libvirt's default unit for memory
		{"500000", " ", "KiB", 500000 * ki},
		{"500", "", "bytes", 500},
		{" 42\n", "MiB", "KiB", 42 * mi}, // pretty-printed text
		{"0", "GiB", "KiB", 0},
		{"100000", "TiB", "KiB", 100000 * ti}, // accepted by libvirt too
		{"9223372036854775807", "b", "", 1<<63 - 1},
	}
	for _, c := range ok {
		got, err := ParseSize(c.value, c.unit, c.def)
		if err != nil || got != c.want {
			t.Errorf("ParseSize(%q, %q, %q) = %d, %v; want %d", c.value, c.unit, c.def, got, err, c.want)
		}
	}
	bad := []struct{ value, unit, def, msg string }{
		{"1", "bogus", "KiB", "unknown unit 'bogus' (use b, KiB, MiB, GiB, TiB, KB, MB, GB, ...)"},
		{"1", "kibibytes", "KiB", "unknown unit 'kibibytes'"},
		{"1", "Z", "KiB", "unknown unit 'Z'"},
		{"1", "iB", "KiB", "unknown unit 'iB'"},
		{"1", "", "", "unknown unit ''"},
		{"", "KiB", "KiB", "no size given"},
		{"-1", "KiB", "KiB", "size '-1' is negative"},
		{"1.5", "GiB", "KiB", "size '1.5' is not a whole number"},
		{"0x10", "KiB", "KiB", "size '0x10' is not a whole number"},
		{"+5", "KiB", "KiB", "size '+5' is not a whole number"},
		{"8", "EiB", "KiB", "size '8' EiB is too large"},
		{"9223372036854775808", "b", "KiB", "is too large"},
		{"18446744073709551616", "b", "KiB", "is too large"},
		{"9007199254740992", "KiB", "KiB", "is too large"},
	}
	for _, c := range bad {
		_, err := ParseSize(c.value, c.unit, c.def)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseSize(%q, %q, %q) error = %v; want one containing %q", c.value, c.unit, c.def, err, c.msg)
		}
	}
}

func TestMemoryRoundsUpToKiB(t *testing.T) {
	for _, c := range []struct {
		mem  string
		want uint64
	}{
		{"<memory unit='b'>1</memory>", 1},
		{"<memory unit='b'>1024</memory>", 1},
		{"<memory unit='b'>1025</memory>", 2},
		{"<memory unit='MB'>1</memory>", 977}, // 1e6 bytes
		{"<memory unit='GiB'>2</memory>", 2 * 1024 * 1024},
		{"<memory>500000</memory>", 500000},
	} {
		d, _ := mustParse(t, []byte(with("<memory unit='KiB'>500000</memory>", c.mem)))
		if d.Memory != c.want {
			t.Errorf("%s: %d KiB, want %d", c.mem, d.Memory, c.want)
		}
		if out := string(mustMarshal(t, d)); !strings.Contains(out, "<memory unit='KiB'>") {
			t.Errorf("%s: not written in KiB:\n%s", c.mem, out)
		}
	}
}
