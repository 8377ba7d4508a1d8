package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/taskgen/taskgen/internal/model"
	"github.com/taskgen/taskgen/templates"
)

// config is one run of the generator.
type config struct {
	// Dir is the directory the patterns are relative to; empty means the
	// current one.
	Dir string
	// Patterns are the packages to generate, as for go build.
	Patterns []string
	// Tags are build tags.
	Tags []string
	// Invocation is the command line recorded in the header.
	Invocation string
	// Env is the environment of the go command; nil means the current one.
	Env []string
	// Logf, if set, reports each file written or removed.
	Logf func(format string, args ...any)
}

// output is one file to write, or to remove when Content is nil.
type output struct {
	Path    string
	Content []byte
}

// generate loads the packages, renders their files, and writes them only
// if no problem was found anywhere.
func generate(cfg config) error {
	outs, err := plan(cfg)
	if err != nil {
		return err
	}
	logf := cfg.Logf
	if logf != nil {
		// Name files as the user would, relative to where taskgen runs.
		base := cfg.Dir
		if base == "" {
			base, _ = os.Getwd()
		}
		logf = func(format string, args ...any) {
			for i, a := range args {
				if p, ok := a.(string); ok && filepath.IsAbs(p) {
					if rel, err := filepath.Rel(base, p); err == nil {
						args[i] = rel
					}
				}
			}
			cfg.Logf(format, args...)
		}
	}
	return apply(outs, logf)
}

// plan loads the packages and renders their files without writing
// anything. A package without tasks gets its earlier output removed.
func plan(cfg config) ([]output, error) {
	pkgs, err := model.Load(model.Config{
		Dir:      cfg.Dir,
		Patterns: cfg.Patterns,
		Tags:     cfg.Tags,
		Env:      cfg.Env,
		Render:   func(p *model.Package) ([]byte, error) { return templates.File(p, cfg.Invocation) },
	})
	if err != nil {
		return nil, err
	}
	var outs []output
	var errs []error
	for _, pkg := range pkgs {
		path := pkg.Output()
		ours, err := model.IsGenerated(path)
		exists := !errors.Is(err, fs.ErrNotExist)
		if err != nil && exists {
			errs = append(errs, err)
			continue
		}
		if exists && !ours {
			errs = append(errs, fmt.Errorf("%s exists and was not written by taskgen; rename it so that taskgen can write its output there", path))
			continue
		}
		if len(pkg.Tasks) == 0 {
			if exists {
				outs = append(outs, output{Path: path})
			}
			continue
		}
		src, err := templates.File(pkg, cfg.Invocation)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		outs = append(outs, output{Path: path, Content: src})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return outs, nil
}

// apply writes and removes files. A file whose content is unchanged is
// left alone, so its modification time stays.
func apply(outs []output, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	for _, o := range outs {
		if o.Content == nil {
			if err := os.Remove(o.Path); err != nil {
				return err
			}
			logf("removed %s: the package has no tasks", o.Path)
			continue
		}
		if old, err := os.ReadFile(o.Path); err == nil && bytes.Equal(old, o.Content) {
			logf("%s is up to date", o.Path)
			continue
		}
		if err := writeFile(o.Path, o.Content); err != nil {
			return err
		}
		logf("wrote %s", o.Path)
	}
	return nil
}

// writeFile replaces path with content atomically, so that an interrupted
// run never leaves half a file.
func writeFile(path string, content []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".taskgen-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
