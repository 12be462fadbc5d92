package container

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// maxRootfsFile bounds what the controller reads of a file in a
// container's root (/etc/passwd, /etc/group, init's header): the container
// owns those files and can make them any size.
const maxRootfsFile = 8 << 20

// errNotRegular: a file in the container's root that the controller would
// read is not a regular file (a FIFO, a device, a socket, a directory).
var errNotRegular = errors.New("not a regular file")

// openRootfsFile opens path inside the container's root for reading,
// without letting the container block the controller or redirect it: the
// path is resolved inside root, symlinks included, into an O_PATH handle
// (which never blocks, whatever the file is: opening a FIFO for reading
// would wait for a writer forever); the handle must be a regular file;
// only then is it reopened for reading, O_NONBLOCK, through the handle, so
// a swap of the path in between changes nothing. A missing file wraps
// fs.ErrNotExist.
func openRootfsFile(root, path string) (*os.File, fs.FileInfo, error) {
	h, err := pathrs.OpenInRoot(root, path)
	if err != nil {
		return nil, nil, err
	}
	defer h.Close()
	fi, err := h.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fi, fmt.Errorf("%s: %w (%s)", path, errNotRegular, fileType(fi.Mode()))
	}
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC)
	if err != nil {
		return nil, fi, err
	}
	return f, fi, nil
}

func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return "mode " + m.String()
}

// readRootfsFile reads a whole file of the container's root, bounded by
// maxRootfsFile, as openRootfsFile opens it.
func readRootfsFile(root, path string) ([]byte, error) {
	f, _, err := openRootfsFile(root, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRootfsFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxRootfsFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxRootfsFile)
	}
	return data, nil
}

// rootfsDB returns a reader over the container's passwd or group file for
// the user lookup: nil (no entries) when the file is missing or is not a
// file the controller may read, with a note saying why for an error.
func rootfsDB(root, path string) (io.Reader, string) {
	data, err := readRootfsFile(root, path)
	switch {
	case err == nil:
		return bytes.NewReader(data), ""
	case errors.Is(err, fs.ErrNotExist):
		return nil, ""
	}
	return nil, fmt.Sprintf("%v: ignored", err)
}
