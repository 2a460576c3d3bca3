package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/chatops/chatops/adapters/terminal"
	"github.com/chatops/chatops/engine"
)

// Set at release time with -ldflags "-X main.version=… -X main.commit=…
// -X main.date=…". Left empty, they come from the build info Go records: the
// module's version under go install, the VCS revision and time in a checkout.
var (
	version string
	commit  string
	date    string
)

// buildInfo is what chatops was built from.
type buildInfo struct {
	Version, Commit, Date, Go, Platform string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		modified := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				if b.Date == "" {
					b.Date = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && commit == "" && b.Commit != "" {
			b.Commit += " (modified)"
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	return b
}

func (b buildInfo) String() string {
	return fmt.Sprintf("chatops %s\ncommit: %s\nbuilt: %s\ngo: %s %s", b.Version, or(b.Commit, "unknown"), or(b.Date, "unknown"), b.Go, b.Platform)
}

// VersionCmd prints the version, commit, build date and Go version.
type VersionCmd struct{}

// Run prints the build, as JSON with --output json.
func (VersionCmd) Run(e *env) error {
	return printVersion(e.stdout, e.globals.Output)
}

func printVersion(w io.Writer, output string) error {
	b := readBuildInfo()
	if output == "json" {
		return terminal.RenderJSON(w, &engine.Result{Data: map[string]string{
			"version": b.Version, "commit": b.Commit, "date": b.Date, "go": b.Go, "platform": b.Platform}})
	}
	_, err := fmt.Fprintln(w, b)
	return err
}
