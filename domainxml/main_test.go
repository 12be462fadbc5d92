package domainxml

import (
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// corpusEnv names the directory of libvirt's own LXC test documents
// (tests/lxcxml2xmldata, lxcconf2xmldata, ... of libvirt). They are not part
// of this repository: CI checks them out beside it and .ci/run sets the
// variable; without it the tests about libvirt's corpus skip, and every
// other test uses lxctl's own documents under testdata/domains/.
const corpusEnv = "LXCTL_LIBVIRT_CORPUS"

// featuresDir holds lxctl's own domain documents, which together use every
// element of the README's "Domain XML supported" table.
const featuresDir = "../testdata/domains/features"

func TestMain(m *testing.M) {
	// The corpus was written on x86_64; pin the host so its arch='x86_64'
	// and arch='i686' parse on any builder.
	runningArch = func() string { return "x86_64" }
	os.Exit(m.Run())
}

// libvirtCorpus returns the corpus directory, or skips t when the variable
// is unset. A variable that names no directory is a failure: CI set it and
// must not pass by skipping.
func libvirtCorpus(t testing.TB) string {
	t.Helper()
	dir := optionalCorpus(t)
	if dir == "" {
		t.Skip(corpusEnv + " is not set: skipping the tests against libvirt's corpus (set it to a checkout of shared/corpus/libvirt-lxc)")
	}
	return dir
}

// optionalCorpus is libvirtCorpus for tests that only add the corpus to
// documents of their own: "" when the variable is unset.
func optionalCorpus(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(corpusEnv)
	if dir == "" {
		return ""
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("%s=%s does not name a directory (%v): point it at libvirt's LXC corpus or unset it", corpusEnv, dir, err)
	}
	return dir
}

// corpusFiles returns every .xml file under dir, relative to it, sorted.
func corpusFiles(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) == ".xml" {
			rel, _ := filepath.Rel(dir, p)
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

// ownDocs returns lxctl's own valid documents by name: the feature files,
// their expected outputs and the two examples with their goldens. Tests of
// properties that every document must have run over all of them.
func ownDocs(t testing.TB) map[string][]byte {
	t.Helper()
	docs := map[string][]byte{}
	for _, dir := range []string{featuresDir, featuresDir + "/out", "../testdata/domains"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			docs[strings.TrimPrefix(filepath.ToSlash(f), "../testdata/")] = readFile(t, f)
		}
	}
	if len(docs) < 10 {
		t.Fatalf("only %d documents under ../testdata/domains: the feature files are missing", len(docs))
	}
	return docs
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
