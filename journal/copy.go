package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// records is a run's complete record lines (a torn last line left out),
// checked the way Load checks them.
func (s *Store) records(id string) ([][]byte, error) {
	if err := checkRunID(id); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnknownRun, err)
	}
	ctx, cancel := opCtx()
	defer cancel()
	data, err := s.b.Read(ctx, id)
	if err != nil {
		return nil, err
	}
	path := s.b.RunWhere(id)
	r, validEnd, err := replay(path, data)
	if err != nil {
		return nil, err
	}
	if r.Header.ID != id {
		return nil, &CorruptError{Path: path, Line: 1, Msg: fmt.Sprintf("header names run %q, the file name says %q", r.Header.ID, id)}
	}
	var lines [][]byte
	for _, l := range bytes.Split(data[:validEnd], []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			lines = append(lines, append(l, '\n'))
		}
	}
	return lines, nil
}

// CopyRun copies run id, record for record, from s to dst (a migration
// from a state dir to a database). A run dst already has is an error that
// Is ErrRunExists; a torn last line is left behind.
func (s *Store) CopyRun(dst *Store, id string) (records int, err error) {
	lines, err := s.records(id)
	if err != nil {
		return 0, err
	}
	r, _, err := replay(s.b.RunWhere(id), lines[0])
	if err != nil {
		return 0, err
	}
	h := r.Header
	ctx, cancel := opCtx()
	defer cancel()
	a, err := dst.b.Create(ctx, RunInfo{ID: h.ID, Kind: h.Kind, Started: h.Started, User: h.User, OperatorHost: h.OperatorHost, PID: h.PID}, lines[0])
	if err != nil {
		return 0, err
	}
	defer a.Close()
	for _, l := range lines[1:] {
		if err := a.Append(l); err != nil {
			return 0, err
		}
	}
	return len(lines), nil
}

// Export writes every run's records to w as JSON lines, oldest run first,
// each {"run": ID, "record": {...}} with the record exactly as stored. A
// run that cannot be read is left out and reported in the error, after the
// others are written.
func (s *Store) Export(w io.Writer) (runs, records int, err error) {
	all, err := s.Runs()
	if err != nil {
		return 0, 0, err
	}
	var bad []error
	for _, r := range all {
		lines, err := s.records(r.ID())
		if err != nil {
			bad = append(bad, err)
			continue
		}
		for _, l := range lines {
			b, err := json.Marshal(struct {
				Run    string          `json:"run"`
				Record json.RawMessage `json:"record"`
			}{r.ID(), bytes.TrimSpace(l)})
			if err != nil {
				return runs, records, fmt.Errorf("export run %s: %w", r.ID(), err)
			}
			if _, err := w.Write(append(b, '\n')); err != nil {
				return runs, records, err
			}
			records++
		}
		runs++
	}
	if len(bad) > 0 {
		return runs, records, fmt.Errorf("%d runs not exported: %w", len(bad), joinErrs(bad))
	}
	return runs, records, nil
}

type errList []error

func (e errList) Error() string {
	var b bytes.Buffer
	for i, err := range e {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e errList) Unwrap() []error { return e }

func joinErrs(errs []error) error { return errList(errs) }
