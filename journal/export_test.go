package journal

import "os"

// AppenderFile is the file a directory backend's Appender writes, for the
// conformance suite's Break.
func AppenderFile(a Appender) *os.File { return a.(*fileAppender).f }

// OpenDirBackend is the directory backend alone.
func OpenDirBackend(dir string) (Backend, error) { return openDir(dir) }
