// Package shell is chatops's interactive shell: a bubbletea program that
// reads command lines with completion from the grammar, shows what is wrong
// with a line as it is typed, keeps a history across runs, and runs each
// line on the engine as a one-shot command would, asking before it changes
// what policy says to confirm.
//
//	$ chatops shell
//	> promote demo form
//	               ^^^^
//	unknown keyword "form"; did you mean "from"?
//
// The Model needs no terminal: tests drive Update with key messages and read
// View. Run puts it on one.
package shell
