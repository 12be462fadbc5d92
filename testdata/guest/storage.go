package main

// ---- storage actions (issue 15: images, block devices, hostdev nodes) ----
//
//	guest write PATH TEXT   write TEXT to PATH (synced); print "wrote PATH" or "write PATH failed: ERRNO"
//	guest readfile PATH     print "file PATH: CONTENT" or "readfile PATH failed: ERROR"
//	guest readdev PATH N    one read of up to N bytes of PATH, quoted: "dev PATH: \"...\"" (or "... failed: ERROR")
//	guest statnode PATH     print "node PATH block|char MAJOR:MINOR PERM" (or "... failed: ERROR")

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// storageStep runs one storage action; ok is false when args[0] is none.
func storageStep(args []string) (rest []string, ok bool, err error) {
	need := map[string]int{"write": 3, "readfile": 2, "readdev": 3, "statnode": 2}[args[0]]
	if need == 0 {
		return nil, false, nil
	}
	if len(args) < need {
		return nil, true, fmt.Errorf("%s needs %d argument(s)", args[0], need-1)
	}
	p := args[1]
	switch args[0] {
	case "write":
		err := writeSynced(p, args[2])
		if err != nil {
			fmt.Printf("write %s failed: %s\n", p, errSymbol(err))
		} else {
			fmt.Printf("wrote %s\n", p)
		}
	case "readfile":
		data, err := os.ReadFile(p)
		if err != nil {
			fmt.Printf("readfile %s failed: %v\n", p, err)
		} else {
			fmt.Printf("file %s: %s\n", p, data)
		}
	case "readdev":
		n, err := strconv.Atoi(args[2])
		if err != nil {
			return nil, true, err
		}
		f, err := os.Open(p)
		if err != nil {
			fmt.Printf("readdev %s failed: %v\n", p, err)
			break
		}
		// One read: a record device (/dev/kmsg) gives one record per
		// read and blocks on the next.
		buf := make([]byte, n)
		got, err := f.Read(buf)
		f.Close()
		if err != nil {
			fmt.Printf("readdev %s failed: %v\n", p, err)
		} else {
			fmt.Printf("dev %s: %q\n", p, buf[:got])
		}
	case "statnode":
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			fmt.Printf("statnode %s failed: %v\n", p, err)
			break
		}
		kind := map[uint32]string{syscall.S_IFBLK: "block", syscall.S_IFCHR: "char"}[st.Mode&syscall.S_IFMT]
		if kind == "" {
			kind = "other"
		}
		fmt.Printf("node %s %s %d:%d %o\n", p, kind, (st.Rdev>>8)&0xfff|(st.Rdev>>32)&^0xfff, st.Rdev&0xff|(st.Rdev>>12)&^0xff, st.Mode&0o7777)
	}
	return args[need:], true, nil
}

func writeSynced(p, text string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// errSymbol is the errno's symbol (EROFS) when err carries one, so tests
// match it whatever the libc's wording.
func errSymbol(err error) string {
	var errno syscall.Errno
	for e := err; e != nil; {
		if x, ok := e.(syscall.Errno); ok {
			errno = x
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	switch errno {
	case syscall.EROFS:
		return "EROFS"
	case syscall.EACCES:
		return "EACCES"
	case syscall.EPERM:
		return "EPERM"
	case syscall.ENOENT:
		return "ENOENT"
	case 0:
		return err.Error()
	}
	return errno.Error()
}
