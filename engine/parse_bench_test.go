package engine_test

import (
	"regexp"
	"testing"

	"github.com/chatops/chatops/engine"
)

// benchLines is a realistic mix of what people type in a deploy channel.
var benchLines = []string{
	"promote my-pipeline",
	"promote my-pipeline from staging to production",
	"promote! my-pipeline from stg to prod",
	"promote my-pipeline from staging/api to production/api-eu",
	"deploy my-pipeline/feature-x to staging",
	"releases my-pipeline --limit=5",
	"releases my-pipeline in staging -n 3",
	"rollback my-pipeline in production to 1.4.1",
	"lock my-pipeline production --reason \"release freeze\"",
	"info my-pipeline",
	"release my-pipeline 1.4.2 to staging --commit 9f2c1e7",
	"route my-pipeline to <#C024BE91L|deploys>",
}

// Heroku-style listeners: one regular expression over the whole line per
// command, as Hubot scripts and the Heroku ChatOps bot declare them, covering
// the same thirteen commands as the grammar. The promote pattern alone is over
// 100 characters. Hubot tests every listener against every message and takes
// the submatches of those that match.
var herokuStyle = []*regexp.Regexp{
	regexp.MustCompile(`(?i)^\s*(promote)(!)?\s+([-_\.0-9a-z]+)(?:\s+from\s+([-_\.0-9a-z]+)(?:/([^\s]+))?)?(?:\s+(?:to|in|on)\s+([-_\.0-9a-z,]+)(?:/([^\s]+))?)?\s*$`),
	regexp.MustCompile(`(?i)^\s*(deploy)(!)?\s+([-_\.0-9a-z]+)(?:/([^\s]+))?(?:\s+(?:to|in|on)\s+([-_\.0-9a-z]+)(?:/([^\s]+))?)?\s*$`),
	regexp.MustCompile(`(?i)^\s*releases\s+([-_\.0-9a-z]+)(?:\s+in\s+([-_\.0-9a-z]+))?(?:\s+(?:--limit[= ]|-n\s*)(\d+))?\s*$`),
	regexp.MustCompile(`(?i)^\s*rollback(!)?\s+([-_\.0-9a-z]+)(?:\s+in\s+([-_\.0-9a-z]+))?(?:\s+to\s+(v?\d+\.\d+\.\d+\S*))?\s*$`),
	regexp.MustCompile(`(?i)^\s*lock\s+([-_\.0-9a-z]+)(?:\s+([-_\.0-9a-z]+))?(?:\s+--reason\s+(?:"([^"]*)"|(\S+)))?\s*$`),
	regexp.MustCompile(`(?i)^\s*(?:info|status)\s+([-_\.0-9a-z]+)\s*$`),
	regexp.MustCompile(`(?i)^\s*release\s+([-_\.0-9a-z]+)\s+(v?\d+\.\d+\.\d+\S*)(?:\s+to\s+([-_\.0-9a-z]+))?(?:\s+--commit\s+([0-9a-f]+))?(?:\s+--notes\s+"([^"]*)")?\s*$`),
	regexp.MustCompile(`(?i)^\s*route\s+([-_\.0-9a-z]+)\s+to\s+<#([A-Z0-9]+)(?:\|([^>]+))?>\s*$`),
	// The rest of the command set, so the bot understands what the grammar does.
	regexp.MustCompile(`(?i)^\s*(?:help|\?)(?:\s+(\S+))?\s*$`),
	regexp.MustCompile(`(?i)^\s*(?:pipelines|ls)\s*$`),
	regexp.MustCompile(`(?i)^\s*unlock\s+([-_\.0-9a-z]+)(?:\s+([-_\.0-9a-z]+))?\s*$`),
	regexp.MustCompile(`(?i)^\s*route\s*$`),
	regexp.MustCompile(`(?i)^\s*jobs(?:\s+(\S+))?\s*$`),
	regexp.MustCompile(`(?i)^\s*(?:whoami|me)\s*$`),
}

func BenchmarkParse(b *testing.B) {
	g, err := engine.Grammar()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("grammar", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := g.Parse(benchLines[i%len(benchLines)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	// As Hubot does: every listener tests every message.
	b.Run("regex", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			line := benchLines[i%len(benchLines)]
			matched := 0
			for _, re := range herokuStyle {
				if m := re.FindStringSubmatch(line); m != nil {
					matched++
				}
			}
			if matched != 1 {
				b.Fatalf("%d listeners match %q", matched, line)
			}
		}
	})
	// A kinder baseline: stop at the first listener that matches.
	b.Run("regex-first", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			line := benchLines[i%len(benchLines)]
			matched := false
			for _, re := range herokuStyle {
				if m := re.FindStringSubmatch(line); m != nil {
					matched = true
					break
				}
			}
			if !matched {
				b.Fatalf("no listener matches %q", line)
			}
		}
	})
	b.Run("grammar-argv", func(b *testing.B) {
		argv := [][]string{
			{"promote", "my-pipeline", "from", "staging", "to", "production"},
			{"releases", "my-pipeline", "--limit=5"},
			{"deploy", "my-pipeline/feature-x", "to", "staging"},
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := g.ParseArgs(argv[i%len(argv)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkParseTypical is one typical command, for the allocation budget.
func BenchmarkParseTypical(b *testing.B) {
	g, err := engine.Grammar()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Parse("promote my-pipeline from staging to production"); err != nil {
			b.Fatal(err)
		}
	}
}
