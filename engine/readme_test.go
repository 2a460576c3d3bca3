package engine_test

import (
	"os"
	"strings"
	"testing"

	"github.com/chatops/chatops/engine"
)

// TestREADMEConfig keeps the README's config example valid.
func TestREADMEConfig(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "## Configuration")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("the Configuration section has no yaml example")
	}
	cfg, err := engine.ParseConfig("README.md", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Pipelines) != 1 || len(cfg.Commands) != 1 || len(cfg.Users) != 1 {
		t.Errorf("the example declares %d pipelines, %d commands, %d users", len(cfg.Pipelines), len(cfg.Commands), len(cfg.Users))
	}
}

// TestREADMEDeployConfig: the deploy drivers' example is a config chatops
// accepts, with a driver on every stage.
func TestREADMEDeployConfig(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "### Deploy drivers")
	_, rest, ok2 := strings.Cut(rest, "```yaml\n")
	example, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("the Deploy drivers section has no yaml example")
	}
	cfg, err := engine.ParseConfig("README.md", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, d := range cfg.Pipelines[0].Deploy {
		kinds[d.Kind()] = true
	}
	if len(cfg.Pipelines[0].Deploy) != len(cfg.Pipelines[0].Stages) || len(kinds) != 4 {
		t.Errorf("the example gives %d of %d stages a driver, of %d kinds", len(cfg.Pipelines[0].Deploy), len(cfg.Pipelines[0].Stages), len(kinds))
	}
}
