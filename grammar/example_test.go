package grammar_test

import (
	"encoding/json"
	"fmt"

	"github.com/chatops/chatops/grammar"
)

func ExampleGrammar_Parse() {
	g := grammar.MustNew([]grammar.Decl{
		{Usage: "promote[!] <pipeline> [from <stage>[/<app>]] [(to|in|on) <stage>[/<app>] ...]"},
	})
	c, err := g.Parse("PROMOTE my-pipeline on prod from stg/api")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Canonical())
	out, _ := json.Marshal(c)
	fmt.Println(string(out))

	_, err = g.Parse("promote my-pipeline form staging")
	fmt.Print(err.(*grammar.Error).Detail())
	// Output:
	// promote my-pipeline from staging/api to production
	// {"command":"promote","force":false,"args":{"pipeline":"my-pipeline","from":{"stage":"staging","app":"api"},"to":[{"stage":"production"}]},"canonical":"promote my-pipeline from staging/api to production"}
	// error: unknown keyword "form" (column 21)
	//   promote my-pipeline form staging
	//                       ^^^^
	// did you mean "from"?
	// usage: promote[!] <pipeline> [from <stage>[/<app>]] [(to|in|on) <stage>[/<app>] ...]
}

func ExampleGrammar_ParseArgs() {
	g := grammar.MustNew([]grammar.Decl{
		{Usage: "release <pipeline> <version> [to <stage>] [--commit <sha>] [--notes <text>]"},
	})
	c, err := g.ParseArgs([]string{"release", "web", "1.4.2", "--notes", "fix login", "to", "stg"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Canonical())
	for _, a := range c.Args {
		fmt.Printf("%s=%s\n", a.Param.Name, a)
	}
	// Output:
	// release web 1.4.2 to staging --notes "fix login"
	// pipeline=web
	// version=1.4.2
	// to=staging
	// notes="fix login"
}

func ExampleGrammar_Complete() {
	g := grammar.MustNew([]grammar.Decl{
		{Usage: "promote[!] <pipeline> [from <stage>[/<app>]] [(to|in|on) <stage>[/<app>] ...]"},
	})
	pipelines := func(name string) []string {
		if name == "pipeline" {
			return []string{"web", "worker", "billing"}
		}
		return nil
	}
	fmt.Println(g.Complete("promote w", 9, pipelines))
	// Output:
	// [web worker]
}
