package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/fleettune/fleettune/internal/yamlx"
)

// MaxInventoryBytes is the largest inventory file (or standard input) read.
const MaxInventoryBytes = 64 << 20

// checkText refuses what is not UTF-8 text: an invalid byte or a NUL is an
// error naming the byte offset (and its line).
func checkText(file string, data []byte) error {
	line := 1
	for i := 0; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				return &yamlx.Error{File: file, Line: line, Msg: fmt.Sprintf("byte offset %d: a NUL byte; an inventory is a UTF-8 text file", i)}
			}
			if c == '\n' {
				line++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return &yamlx.Error{File: file, Line: line, Msg: fmt.Sprintf("byte offset %d: byte 0x%02x is not valid UTF-8; an inventory is a UTF-8 text file", i, c)}
		}
		i += size
	}
	return nil
}

// singleDocument refuses a YAML stream of more than one document, naming
// the line where the second begins: everything after it would otherwise be
// silently dropped.
func singleDocument(file string, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first yaml.Node
	if err := dec.Decode(&first); err != nil {
		return nil // yamlx.Parse reports it
	}
	var second yaml.Node
	err := dec.Decode(&second)
	if errors.Is(err, io.EOF) {
		return nil
	}
	line := second.Line
	if err != nil || line == 0 {
		line = secondDocLine(data)
	}
	return &yamlx.Error{File: file, Line: line, Msg: "a second YAML document starts here; an inventory is one document (remove the '---' separator, or split the file and pass each with its own -i)"}
}

// secondDocLine finds the line of the first '---' or '...' marker after
// content, for when the decoder cannot say.
func secondDocLine(data []byte) int {
	content := false
	for i, l := range bytes.Split(data, []byte("\n")) {
		t := bytes.TrimRight(l, " \t\r")
		if bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- ")) {
			if content {
				return i + 1
			}
			continue
		}
		if len(bytes.TrimSpace(t)) > 0 && !bytes.HasPrefix(bytes.TrimSpace(t), []byte("#")) {
			content = true
		}
	}
	return 0
}
