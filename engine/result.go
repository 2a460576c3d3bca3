package engine

// Result is a command's outcome, neutral of where it is shown: the terminal
// renders it as text or JSON, Slack as Block Kit.
type Result struct {
	Title  string
	Text   string
	Fields []Field
	// Columns and Rows make a table.
	Columns []string
	Rows    [][]string
	// Data is the machine-readable form, for --output json.
	Data any
}

// Field is one labelled value.
type Field struct {
	Name, Value string
}
