package console

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/term"
)

// benchBytes is what the "container" writes: 50 MB of 80-column lines.
// Lines of a few bytes (like `yes`) are pathologically slow through any
// pty; 80 columns is what a console shows.
const benchBytes = 50_000_000

// expectOut is what comes out of the master for n bytes written: ONLCR
// turns each \n into \r\n.
func expectOut(n int) int64 { return int64(n + n/80) }

// benchFile writes the 50 MB of lines once; cat(1) plays the container.
func benchFile(b testing.TB) string {
	p := shortDir(b) + "/lines"
	line := append(bytes.Repeat([]byte("x"), 79), '\n')
	if err := os.WriteFile(p, bytes.Repeat(line, benchBytes/80), 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}

// catInto starts cat writing file into the pty slave, as a process in a
// container writes to its console.
func catInto(b testing.TB, file string, slave *os.File) *exec.Cmd {
	cmd := exec.Command("cat", file)
	cmd.Stdout = slave
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return cmd
}

// barePTY: cat writes the slave, this process reads the master.
func barePTY(b testing.TB, file string) time.Duration {
	m, s, _ := openPTY(b)
	defer m.Close()
	defer s.Close()
	start := time.Now()
	c0 := cpuTime()
	defer func() { bareCPU += cpuTime() - c0 }()
	cmd := catInto(b, file, s)
	want := expectOut(benchBytes)
	buf := make([]byte, 64<<10)
	var got int64
	for got < want {
		n, err := m.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		got += int64(n)
	}
	d := time.Since(start)
	cmd.Wait()
	return d
}

type consoleRun struct {
	d                 time.Duration
	serverCPU, cliCPU time.Duration
}

// throughConsole: cat writes the slave, this process runs the Server (with
// its 1 MiB log), and a client process (this test binary, see
// TestBenchClient) attaches and reads, as `lxctl console` does.
func throughConsole(b testing.TB, file string) consoleRun {
	dir := shortDir(b)
	sock := dir + "/c.sock"
	srv, err := NewServer(ServerConfig{SocketPath: sock, LogPath: dir + "/c.log", LogLimit: DefaultLogLimit})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close("")
	m, s, _ := openPTY(b)
	defer s.Close()
	if err := srv.SetMaster(m); err != nil {
		b.Fatal(err)
	}
	m.Close()

	client := exec.Command(os.Args[0], "-test.run=^TestBenchClient$")
	client.Env = append(os.Environ(), "CONSOLE_BENCH_SOCKET="+sock, "CONSOLE_BENCH_BYTES="+strconv.FormatInt(expectOut(benchBytes), 10))
	stdout, _ := client.StdoutPipe()
	client.Stderr = os.Stderr
	if err := client.Start(); err != nil {
		b.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "attached" {
		b.Fatalf("client: %q", lines.Text())
	}
	waitAttached(b, srv, true)
	start, cpu := time.Now(), cpuTime()
	cmd := catInto(b, file, s)
	if !lines.Scan() || lines.Text() != "done" {
		b.Fatalf("client: %q", lines.Text())
	}
	r := consoleRun{d: time.Since(start), serverCPU: cpuTime() - cpu}
	cmd.Wait()
	srv.Close("")
	client.Wait()
	r.cliCPU = client.ProcessState.SystemTime() + client.ProcessState.UserTime()
	return r
}

var bareCPU time.Duration

// TestBenchClient is the client process of BenchmarkThroughput.
func TestBenchClient(t *testing.T) {
	sock := os.Getenv("CONSOLE_BENCH_SOCKET")
	if sock == "" {
		t.Skip("run by BenchmarkThroughput only")
	}
	want, _ := strconv.ParseInt(os.Getenv("CONSOLE_BENCH_BYTES"), 10, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &countWriter{want: want, done: make(chan struct{})}
	pr, pw := io.Pipe()
	defer pw.Close()
	ch := attachAsync(ctx, sock, ClientOptions{Reader: pr, Out: out})
	fmt.Println("attached")
	select {
	case <-out.done:
		fmt.Println("done")
	case r := <-ch:
		fmt.Printf("ended: %+v %v\n", r.res, r.err)
	}
}

// countWriter counts and signals when it has seen want bytes.
type countWriter struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (w *countWriter) Write(p []byte) (int, error) {
	if w.n.Add(int64(len(p))) >= w.want {
		select {
		case <-w.done:
		default:
			close(w.done)
		}
	}
	return len(p), nil
}

// BenchmarkThroughput: 50 MB of 80-column lines written by cat to a pty
// slave and read by an attached client process (through the relay, the
// log and the socket), against the same bytes through a bare pty (cat to
// the slave, this process reading the master), alternating in the same
// run. Reports MB/s of the bytes written (1 MB = 10^6 bytes), and the CPU
// (seconds per second) of the server and of the client.
func BenchmarkThroughput(b *testing.B) {
	file := benchFile(b)
	bareCPU = 0
	var bare time.Duration
	var cons consoleRun
	for b.Loop() {
		bare += barePTY(b, file)
		r := throughConsole(b, file)
		cons.d += r.d
		cons.serverCPU += r.serverCPU
		cons.cliCPU += r.cliCPU
	}
	mbs := func(d time.Duration) float64 { return float64(benchBytes) * float64(b.N) / 1e6 / d.Seconds() }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(mbs(bare), "bare-MB/s")
	b.ReportMetric(mbs(cons.d), "console-MB/s")
	b.ReportMetric(100*mbs(cons.d)/mbs(bare), "%-of-bare")
	b.ReportMetric(bareCPU.Seconds()/bare.Seconds(), "bare-reader-cpu")
	b.ReportMetric(cons.serverCPU.Seconds()/cons.d.Seconds(), "server-cpu")
	b.ReportMetric(cons.cliCPU.Seconds()/cons.d.Seconds(), "client-cpu")
}

// echoCat starts cat on a raw pty slave: every byte written to the master
// comes back, as a shell echoes a keystroke.
func echoCat(b testing.TB, slave *os.File) *exec.Cmd {
	if _, err := term.MakeRaw(fd(b, slave)); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("cat")
	cmd.Stdin, cmd.Stdout = slave, slave
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return cmd
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// chanWriter hands every write to a channel.
type chanWriter chan []byte

func (w chanWriter) Write(p []byte) (int, error) {
	w <- bytes.Clone(p)
	return len(p), nil
}

// BenchmarkRoundTrip: a keystroke written by the client comes back echoed
// by cat on the console; the median round trip against the same through a
// bare pty (write the master, cat echoes, read the master).
func BenchmarkRoundTrip(b *testing.B) {
	// Bare.
	m, s, _ := openPTY(b)
	cat := echoCat(b, s)
	var bare []time.Duration
	one := make([]byte, 1)
	for range 2000 {
		t0 := time.Now()
		m.Write([]byte{'k'})
		if _, err := io.ReadFull(m, one); err != nil {
			b.Fatal(err)
		}
		bare = append(bare, time.Since(t0))
	}
	cat.Process.Kill()
	cat.Wait()
	m.Close()
	s.Close()

	// Through the console.
	fx := newFixture(b, 0)
	cat = echoCat(b, fx.slave)
	defer func() { cat.Process.Kill(); cat.Wait() }()
	pr, pw := io.Pipe()
	defer pw.Close()
	out := make(chanWriter, 16)
	ch := attachAsync(context.Background(), fx.sock, ClientOptions{Reader: pr, Out: out})
	waitAttached(b, fx.srv, true)
	var cons []time.Duration
	for b.Loop() {
		t0 := time.Now()
		pw.Write([]byte{'k'})
		<-out
		cons = append(cons, time.Since(t0))
	}
	fx.srv.Close("")
	<-ch
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(median(bare))/1e3, "bare-µs")
	b.ReportMetric(float64(median(cons))/1e3, "console-µs")
}
