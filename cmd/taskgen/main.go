package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/taskgen/taskgen/internal/model"
	"github.com/taskgen/taskgen/templates"
)

var (
	tags        = flag.String("tags", "", "comma-separated list of build tags to apply")
	verbose     = flag.Bool("v", false, "report each file written or removed")
	showVersion = flag.Bool("version", false, "print the version and exit")
)

func usage() {
	fmt.Fprintf(os.Stderr, "usage: taskgen [-tags list] [-v] [packages]\n")
	fmt.Fprintf(os.Stderr, "       taskgen dlq <list|show|requeue|purge> [flags] URL [ID]\n")
	fmt.Fprintf(os.Stderr, "For more information, see: go doc github.com/taskgen/taskgen/cmd/taskgen\n")
	flag.PrintDefaults()
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "dlq" {
		os.Exit(runDLQ(os.Args[2:], os.Stdout, os.Stderr))
	}
	log.SetFlags(0)
	log.SetPrefix("taskgen: ")
	flag.Usage = usage
	flag.Parse()
	if *showVersion {
		fmt.Println("taskgen v" + templates.Version)
		return
	}
	cwd, err := os.Getwd()
	if err != nil {
		log.Fatal(err)
	}
	cfg := config{
		Patterns:   flag.Args(),
		Tags:       splitTags(*tags),
		Invocation: invocation(cwd, os.Args[1:]),
	}
	if *verbose {
		cfg.Logf = log.Printf
	}
	if err := generate(cfg); err != nil {
		var list model.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				log.Print(e.Rel(cwd))
			}
			os.Exit(1)
		}
		log.Fatal(err)
	}
}

// splitTags splits -tags as go build does: on commas, or on spaces.
func splitTags(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// invocation is the command line recorded in the output's header, with
// absolute paths made relative, so that it does not depend on where the
// repository is checked out.
func invocation(cwd string, args []string) string {
	parts := []string{"taskgen"}
	for _, a := range args {
		if filepath.IsAbs(a) {
			if rel, err := filepath.Rel(cwd, a); err == nil {
				a = rel
			}
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
