package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
)

// readLimit bounds what is read of a heartbeat or a marker: a unix heartbeat is at most ten digits
// and its newlines, a reason is shown cut to 100 bytes. The exec probe reads a file whole, so a
// heartbeat over this size is where the two could differ, and it is judged not unix seconds.
const readLimit = 4096

var errNotRegular = errors.New("not a regular file")

// readHead returns up to readLimit+1 bytes of a regular file. O_NONBLOCK, so a FIFO planted at the
// path cannot hold a request forever (the exec probe would hang until its timeout); anything but a
// regular file fails, as `cat` fails on a directory.
func readHead(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, errNotRegular
	}
	return io.ReadAll(io.LimitReader(f, readLimit+1))
}

// exists is `test -e`: the path, followed through symlinks, can be stat'ed.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// shellOutput is what `t=$(cat file)` leaves in t: dash, bash and busybox drop NUL bytes and strip
// trailing newlines.
func shellOutput(content []byte) string {
	return string(bytes.TrimRight(withoutNUL(content), "\n"))
}

// shellFirstLine is what `read -r r < file` leaves in r: the first line, NUL bytes dropped, leading
// and trailing spaces and tabs (default IFS) trimmed, backslashes kept.
func shellFirstLine(content []byte) string {
	if end := bytes.IndexByte(content, '\n'); end >= 0 {
		content = content[:end]
	}
	return string(bytes.Trim(withoutNUL(content), " \t"))
}

func withoutNUL(content []byte) []byte {
	if bytes.IndexByte(content, 0) < 0 {
		return content
	}
	return bytes.ReplaceAll(content, []byte{0}, nil)
}

// cut is printf's %.Ns: at most n bytes.
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
