package engine

import "github.com/chatops/chatops/grammar"

// builtins is the pipeline pack: every built-in command's declaration bound to
// its handler, in the order help lists them. The usage lines are the grammar;
// the handlers give them behaviour. idempotent marks the commands a job may
// finish after its worker died: reads, and ledger changes, which are keyed by
// the job id.
var builtins = []builtin{
	{
		decl: grammar.Decl{
			Usage:   "help [<command>]",
			Aliases: []string{"?"},
			Summary: "List the commands you may run, or explain one",
			Help:    "Without an argument, lists the commands you may run here. With a command name, shows its usage, arguments, flags and examples.",
			Args: []grammar.ArgDoc{
				{Name: "command", Help: "a command name or alias"},
			},
			Examples: []string{"help", "help promote"},
		},
		run: runHelp, idempotent: true,
	},
	{
		decl: grammar.Decl{
			Usage:    "pipelines",
			Aliases:  []string{"ls"},
			Summary:  "List the pipelines and their stages",
			Help:     "Lists every pipeline with its stages, in promotion order, and the release each stage runs.",
			Examples: []string{"pipelines"},
		},
		run: runPipelines, idempotent: true,
	},
	{
		decl: grammar.Decl{
			Usage:   "info <pipeline>",
			Aliases: []string{"status"},
			Summary: "Show what runs in each stage of a pipeline",
			Help:    "Shows each stage of the pipeline with its current release (version, commit, who released it and when), its lock and its route.",
			Args: []grammar.ArgDoc{
				{Name: "pipeline", Help: "the pipeline to show"},
			},
			Examples: []string{"info my-pipeline"},
		},
		run: runInfo, idempotent: true,
	},
	{
		decl: grammar.Decl{
			Usage:   "release <pipeline> <version> [to <stage>] [--commit <sha>] [--notes <text>]",
			Summary: "Record a new release of a pipeline in a stage",
			Help:    "Records a new release of the pipeline in a stage, by default the first one. Promotion then carries it through the later stages.",
			Args: []grammar.ArgDoc{
				{Name: "pipeline", Help: "the pipeline to release"},
				{Name: "version", Help: "the semantic version of the release, like 1.4.2 or v2.0.0-rc.1"},
				{Name: "to", Help: "the stage that receives it (default: the pipeline's first stage)"},
				{Name: "commit", Help: "the commit the release was built from"},
				{Name: "notes", Help: "release notes, in quotes if they have spaces"},
			},
			Examples: []string{
				"release my-pipeline 1.4.2",
				`release my-pipeline 1.4.2 to staging --commit 9f2c1e7 --notes "fix login"`,
			},
		},
		run: runRelease, idempotent: true, staged: true,
	},
	{
		decl: grammar.Decl{
			Usage:   "deploy[!] <pipeline>[/<branch>] [to <stage>]",
			Summary: "Deploy a branch build of a pipeline into a stage",
			Help:    "Deploys a build of a branch (default: the pipeline's main branch) into a stage (default: the first one). A locked stage refuses it unless forced with ! by someone allowed to force.",
			Args: []grammar.ArgDoc{
				{Name: "pipeline", Help: "the pipeline, with /branch to pick a branch"},
				{Name: "to", Help: "the stage to deploy into"},
			},
			Examples: []string{"deploy my-pipeline", "deploy my-pipeline/feature-x to staging"},
		},
		run: runDeploy, idempotent: true, staged: true,
	},
	{
		decl: grammar.Decl{
			Usage:   "promote[!] <pipeline> [from <stage>[/<app>]] [(to|in|on) <stage>[/<app>] ...]",
			Summary: "Promote a release from one stage to the next",
			Help:    "Promotes the release running in one stage into the next ones. With no stages given, promotes the stage just upstream of the last stage into the last stage; with only targets, promotes from the stage before the first target. A locked stage refuses the promotion unless forced with ! by someone allowed to force.",
			Args: []grammar.ArgDoc{
				{Name: "pipeline", Help: "the pipeline to promote"},
				{Name: "from", Help: "the stage (and app) whose release to promote"},
				{Name: "to", Help: "the stages (and apps) to promote into; repeat or separate with commas"},
			},
			Examples: []string{
				"promote my-pipeline",
				"promote my-pipeline from staging to production",
				"promote my-pipeline from staging/api to production/api-eu",
				"promote my-pipeline to staging,qa",
			},
		},
		run: runPromote, idempotent: true, staged: true,
	},
	{
		decl: grammar.Decl{
			Usage:   "releases <pipeline> [in <stage>] [--limit <n>]",
			Aliases: []string{"history"},
			Summary: "List the past releases of a pipeline",
			Help:    "Lists the releases of the pipeline, newest first, in one stage (default: the last one).",
			Args: []grammar.ArgDoc{
				{Name: "pipeline", Help: "the pipeline"},
				{Name: "in", Help: "the stage whose releases to list"},
				{Name: "limit", Help: "how many releases to show", Default: "10", Short: 'n'},
			},
			Examples: []string{"releases my-pipeline", "releases my-pipeline in staging --limit 5"},
		},
		run: runReleases, idempotent: true,
	},
	{
		decl: grammar.Decl{
			Usage:   "rollback[!] <pipeline> [in <stage>] [to <version>]",
			Summary: "Roll a stage back to an earlier release",
			Help:    "Rolls a stage (default: the last one) back to an earlier release (default: the one before the current one). A locked stage refuses it unless forced with ! by someone allowed to force.",
			Args: []grammar.ArgDoc{
				{Name: "pipeline", Help: "the pipeline"},
				{Name: "in", Help: "the stage to roll back"},
				{Name: "to", Help: "the version to go back to"},
			},
			Examples: []string{"rollback my-pipeline", "rollback my-pipeline in staging to 1.4.1"},
		},
		run: runRollback, idempotent: true, staged: true,
	},
	{
		decl: grammar.Decl{
			Usage:   "lock[!] <pipeline> [<stage>] [--reason <text>]",
			Summary: "Lock a pipeline or one of its stages against changes",
			Help:    "Locks a stage, or the whole pipeline, so that deploys, promotions and rollbacks into it are refused until it is unlocked; forcing with ! goes past a lock for those allowed to force. A stage already locked stays as it is: lock! replaces the lock, its owner and reason.",
			Args: []grammar.ArgDoc{
				{Name: "pipeline", Help: "the pipeline"},
				{Name: "stage", Help: "the stage to lock (default: every stage)"},
				{Name: "reason", Help: "why, shown to whoever runs into the lock"},
			},
			Examples: []string{"lock my-pipeline production --reason \"release freeze\"", "lock! my-pipeline production --reason \"incident 42\""},
		},
		run: runLock, idempotent: true,
	},
	{
		decl: grammar.Decl{
			Usage:   "unlock <pipeline> [<stage>]",
			Summary: "Remove a lock",
			Help:    "Removes the lock on a stage, or on the whole pipeline.",
			Args: []grammar.ArgDoc{
				{Name: "pipeline", Help: "the pipeline"},
				{Name: "stage", Help: "the stage to unlock (default: every stage)"},
			},
			Examples: []string{"unlock my-pipeline production"},
		},
		run: runUnlock, idempotent: true,
	},
	{
		decl: grammar.Decl{
			Usage:   "route <pipeline> to <#channel>",
			Summary: "Send a pipeline's notifications to a channel",
			Help:    "Sends the notifications of a pipeline (releases, deploys, promotions, rollbacks, locks, driver progress and CI/CD reports) to a channel, one thread per release. Without arguments, lists the routes; unroute removes one.",
			Args: []grammar.ArgDoc{
				{Name: "pipeline", Help: "the pipeline"},
				{Name: "to", Help: "the channel: a Slack mention, #name, or its id (C0123ABCD)"},
			},
			Examples: []string{"route my-pipeline to #deploys"},
		},
		run: runRoute, idempotent: true,
	},
	{
		decl: grammar.Decl{
			Usage:    "route",
			Summary:  "List where pipeline notifications go",
			Examples: []string{"route"},
		},
		run: runRoute, idempotent: true,
	},
	{
		decl: grammar.Decl{
			Usage:   "unroute <pipeline>",
			Summary: "Stop sending a pipeline's notifications to its channel",
			Help:    "Removes the pipeline's route: its releases, promotions, rollbacks and locks are no longer posted anywhere.",
			Args: []grammar.ArgDoc{
				{Name: "pipeline", Help: "the pipeline"},
			},
			Examples: []string{"unroute my-pipeline"},
		},
		run: runUnroute, idempotent: true,
	},
	{
		decl: grammar.Decl{
			Usage:   "jobs [<job-id>]",
			Summary: "List running and recent jobs, or show one",
			Help:    "Lists the running and recent jobs, or shows one job with its progress and outcome.",
			Args: []grammar.ArgDoc{
				{Name: "job-id", Help: "the id of a job"},
			},
			Examples: []string{"jobs"},
		},
		run: runJobs, idempotent: true,
	},
	{
		decl: grammar.Decl{
			Usage:    "whoami",
			Aliases:  []string{"me"},
			Summary:  "Show who chatops takes you for and your groups",
			Help:     "Shows the identity chatops resolved for you, the groups you belong to and where you run from.",
			Examples: []string{"whoami"},
		},
		run: runWhoami, idempotent: true,
	},
}

// Grammar returns the grammar of the built-in commands.
func Grammar(opts ...grammar.Option) (*grammar.Grammar, error) {
	return grammar.New(Builtins, opts...)
}

// builtin is a built-in command: its declaration and its handler.
type builtin struct {
	decl       grammar.Decl
	run        func(r *run) (*Result, error)
	idempotent bool
	staged     bool // see action.staged
}

// Builtins declares the pipeline pack: every built-in command, in the order help
// lists them.
var Builtins = func() []grammar.Decl {
	decls := make([]grammar.Decl, len(builtins))
	for i, b := range builtins {
		decls[i] = b.decl
	}
	return decls
}()
