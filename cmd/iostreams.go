package cmd

import (
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams carries the streams commands write to, so tests can use buffers
// and decide what counts as a terminal.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

func systemIO() *IOStreams {
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
}

// InFile returns stdin as a file when it is one (the console needs the fd).
func (s *IOStreams) InFile() (*os.File, bool) {
	f, ok := s.In.(*os.File)
	return f, ok
}

// IsInTerminal reports whether stdin is a terminal.
func (s *IOStreams) IsInTerminal() bool {
	f, ok := s.InFile()
	return ok && term.IsTerminal(int(f.Fd()))
}
