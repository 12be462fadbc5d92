package domainxml

import (
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// corpusDir is libvirt's own LXC test documents. CI checks the repository
// out with shared/ beside it, so the path is relative to this package.
const corpusDir = "../../shared/corpus/libvirt-lxc"

func TestMain(m *testing.M) {
	// The corpus was written on x86_64; pin the host so its arch='x86_64'
	// and arch='i686' parse on any builder.
	runningArch = func() string { return "x86_64" }
	os.Exit(m.Run())
}

// corpusFiles returns every .xml file of the corpus, relative to corpusDir.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		t.Fatalf("the libvirt corpus is missing (expected at %s beside the repository): %v", corpusDir, err)
	}
	var files []string
	err := filepath.WalkDir(corpusDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) == ".xml" {
			rel, _ := filepath.Rel(corpusDir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, doc []byte) (*Domain, []Warning) {
	t.Helper()
	d, w, err := Parse(doc)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return d, w
}

func mustMarshal(t testing.TB, d *Domain) []byte {
	t.Helper()
	b, err := d.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return b
}
