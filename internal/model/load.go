package model

import (
	"cmp"
	"fmt"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/tools/go/packages"
)

// GeneratedSuffix ends the name of every file taskgen writes.
const GeneratedSuffix = "_taskgen.go"

// OutputPath returns the file taskgen writes for package name in dir.
func OutputPath(dir, name string) string {
	return filepath.Join(dir, name+GeneratedSuffix)
}

// Config says which packages to load and how.
type Config struct {
	// Dir is the directory patterns are relative to; empty means the
	// current directory.
	Dir string
	// Patterns are go list package patterns; none means ".".
	Patterns []string
	// Tags are build tags, as for go build -tags.
	Tags []string
	// Env is the environment of the go command; nil means the current one.
	Env []string
	// Render, if set, renders the file generated for a package. Load uses
	// it to type-check the user's code against what is about to be
	// generated, so that code using EnqueueX and friends is checked for
	// real instead of failing with "undefined".
	Render func(*Package) ([]byte, error)
}

// Load loads the packages that cfg matches and builds their model. It
// returns every package loaded, with tasks or not, sorted by import path.
// If it finds problems in the user's code it returns them all as an
// ErrorList, and the packages should not be generated.
func Load(cfg Config) ([]*Package, error) {
	patterns := cfg.Patterns
	if len(patterns) == 0 {
		patterns = []string{"."}
	}
	var buildFlags []string
	if len(cfg.Tags) > 0 {
		buildFlags = append(buildFlags, "-tags="+strings.Join(cfg.Tags, ","))
	}

	// First list the packages' files, so that earlier generated output can
	// be replaced by a bare package clause: stale output must neither break
	// type-checking nor count as a declaration that collides with what is
	// about to be generated.
	list, err := packages.Load(&packages.Config{
		Mode:       packages.NeedName | packages.NeedFiles,
		Dir:        cfg.Dir,
		Env:        cfg.Env,
		BuildFlags: buildFlags,
	}, patterns...)
	if err != nil {
		return nil, fmt.Errorf("loading packages: %w", err)
	}
	overlay := map[string][]byte{}
	for _, p := range list {
		for _, f := range p.GoFiles {
			if strings.HasSuffix(f, GeneratedSuffix) {
				overlay[f] = []byte("package " + p.Name + "\n")
			}
		}
	}

	pkgs, err := loadTyped(cfg, buildFlags, patterns, overlay)
	if err != nil {
		return nil, err
	}

	var e errs
	var out []*Package
	var typeErrs []packages.Error
	for _, p := range pkgs {
		typeErrs = append(typeErrs, userErrors(p)...)
		if p.Types == nil || p.Name == "" || len(p.GoFiles) == 0 {
			continue
		}
		out = append(out, buildPackage(p, &e))
	}
	checkWireNames(out, &e)

	if len(typeErrs) > 0 && len(e.list) == 0 && cfg.Render != nil {
		// The user's code may use what taskgen generates. Check it again
		// with the output in place: what fails then is a real error.
		for _, p := range out {
			if len(p.Tasks) == 0 {
				continue
			}
			src, err := cfg.Render(p)
			if err != nil {
				return nil, err
			}
			overlay[p.Output()] = src
		}
		pkgs, err := loadTyped(cfg, buildFlags, patterns, overlay)
		if err != nil {
			return nil, err
		}
		typeErrs = nil
		for _, p := range pkgs {
			typeErrs = append(typeErrs, userErrors(p)...)
		}
	} else {
		// Type errors are the user's to fix, except references to what
		// taskgen is about to generate.
		generated := map[string]bool{}
		for _, p := range out {
			for _, n := range p.generatedNames() {
				generated[n] = true
			}
		}
		typeErrs = slices.DeleteFunc(typeErrs, func(le packages.Error) bool {
			return undefinedGenerated(le.Msg, generated)
		})
	}
	for _, le := range typeErrs {
		e.list = append(e.list, &Error{Pos: parsePos(le.Pos), Msg: le.Msg})
	}
	if len(e.list) > 0 {
		return out, e.list.sort()
	}
	return out, nil
}

// loadTyped loads and type-checks the packages, sorted by import path.
func loadTyped(cfg Config, buildFlags, patterns []string, overlay map[string][]byte) ([]*packages.Package, error) {
	pkgs, err := packages.Load(&packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedImports |
			packages.NeedTypes | packages.NeedSyntax | packages.NeedTypesInfo,
		Dir:        cfg.Dir,
		Env:        cfg.Env,
		BuildFlags: buildFlags,
		Overlay:    overlay,
	}, patterns...)
	if err != nil {
		return nil, fmt.Errorf("loading packages: %w", err)
	}
	slices.SortFunc(pkgs, func(a, b *packages.Package) int { return cmp.Compare(a.PkgPath, b.PkgPath) })
	return pkgs, nil
}

// userErrors returns the errors of p worth reporting. The go command
// compiles each package for its export data too, and reports the same type
// errors that type-checking from source does, as one block: that block is
// dropped when the source was type-checked.
func userErrors(p *packages.Package) []packages.Error {
	var out []packages.Error
	for _, le := range p.Errors {
		if le.Kind == packages.ListError && strings.HasPrefix(le.Msg, "# ") && p.Types != nil && p.IllTyped {
			continue
		}
		out = append(out, le)
	}
	return out
}

var undefinedRE = regexp.MustCompile(`^undefined: (?:[\pL\pN_]+\.)?([\pL\pN_]+)$`)

// undefinedGenerated reports whether msg is a type error about one of the
// identifiers taskgen generates.
func undefinedGenerated(msg string, generated map[string]bool) bool {
	m := undefinedRE.FindStringSubmatch(msg)
	return m != nil && generated[m[1]]
}

// parsePos parses go/packages' "file:line:col" positions.
func parsePos(s string) token.Position {
	var pos token.Position
	if s == "" || s == "-" {
		return pos
	}
	rest := s
	var nums []int
	for range 2 {
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			break
		}
		n, err := strconv.Atoi(rest[i+1:])
		if err != nil {
			break
		}
		nums = append([]int{n}, nums...)
		rest = rest[:i]
	}
	pos.Filename = rest
	if len(nums) > 0 {
		pos.Line = nums[0]
	}
	if len(nums) > 1 {
		pos.Column = nums[1]
	}
	return pos
}

// checkWireNames reports wire names used by more than one task of the run.
func checkWireNames(pkgs []*Package, e *errs) {
	first := map[string]*Task{}
	for _, p := range pkgs {
		for _, t := range p.Tasks {
			if prev, ok := first[t.Wire]; ok {
				e.add(t.DirectivePos, "%s: wire name %q is already used by %s at %s; set a different name= option",
					taskLabel(t), t.Wire, taskLabel(prev), shortPos(prev.Pos))
				continue
			}
			first[t.Wire] = t
		}
	}
}

// shortPos formats pos with the file's base name, for messages that point
// at a second place.
func shortPos(pos token.Position) string {
	pos.Filename = filepath.Base(pos.Filename)
	return pos.String()
}

// IsGenerated reports whether the file at path starts with the header
// taskgen writes, so that it may be replaced or removed.
func IsGenerated(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, _ := f.Read(buf)
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	return generatedHeaderRE.MatchString(line), nil
}

var generatedHeaderRE = regexp.MustCompile(`^// Code generated by taskgen .* DO NOT EDIT\.$`)
