// Package grammar is chatops's typed command grammar. A command is declared once,
// by a usage line, and that declaration gives the parser, the help, completion,
// the canonical text of a parsed command and its JSON form. No line is ever
// matched by a regular expression.
//
// The declaration
//
//	grammar.Decl{Usage: "promote[!] <pipeline> [from <stage>[/<app>]] [(to|in|on) <stage>[/<app>] ...]"}
//
// reads each of these lines as the same command,
//
//	promote my-pipeline from staging/api to production
//	promote my-pipeline on prod from stg/api
//	PROMOTE my-pipeline in “prod” from staging/api
//
// whose canonical text is
//
//	promote my-pipeline from staging/api to production
//
// and rejects this one with a positioned diagnostic:
//
//	error: unknown keyword "form" (column 21)
//	  promote my-pipeline form staging
//	                      ^^^^
//	did you mean "from"?
//	usage: promote[!] <pipeline> [from <stage>[/<app>]] [(to|in|on) <stage>[/<app>] ...]
//
// A line comes either raw, as chat sends it (Parse: quotes, Slack's smart quotes,
// HTML entities and <@U123|alice> references are resolved by the tokenizer), or
// as argv a shell already split (ParseArgs); both give the same Command. No value
// may hold a control character (IsControl) but a tab; Visible shows text that
// came in some other way, such as old data, without letting a terminal act on it.
//
// The package imports only the standard library and knows nothing of chat, the
// engine or its commands.
package grammar
