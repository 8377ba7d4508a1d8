package model

import (
	"cmp"
	"fmt"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
)

// Error is a problem found in the user's code, at a position.
type Error struct {
	Pos token.Position
	Msg string
}

func (e *Error) Error() string {
	if !e.Pos.IsValid() && e.Pos.Filename == "" {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// Rel returns the error with its file name relative to dir when that is
// shorter, as a user standing in dir would type it.
func (e *Error) Rel(dir string) string {
	if e.Pos.Filename == "" {
		return e.Error()
	}
	pos := e.Pos
	pos.Filename = relPath(dir, pos.Filename)
	return (&Error{Pos: pos, Msg: e.Msg}).Error()
}

func relPath(dir, file string) string {
	if dir == "" || !filepath.IsAbs(file) {
		return file
	}
	rel, err := filepath.Rel(dir, file)
	if err != nil || len(rel) >= len(file) {
		return file
	}
	return rel
}

// ErrorList is every problem found in one run, sorted by position.
type ErrorList []*Error

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// sort orders l by file, line and column, then message, and drops exact
// duplicates (a type shared by two tasks is reported once).
func (l ErrorList) sort() ErrorList {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Pos.Filename, b.Pos.Filename),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
	return slices.CompactFunc(l, func(a, b *Error) bool {
		return a.Pos == b.Pos && a.Msg == b.Msg
	})
}

// errs collects positioned errors.
type errs struct {
	list ErrorList
}

func (e *errs) add(pos token.Position, format string, args ...any) {
	e.list = append(e.list, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}
