package engine

// Result is a command's outcome, neutral of where it is shown: the terminal
// renders it as text or JSON, Slack as Block Kit.
type Result struct {
	Title  string  `json:"title"`
	Text   string  `json:"text,omitempty"`
	Fields []Field `json:"fields,omitempty"`
	// Columns and Rows make a table.
	Columns []string   `json:"columns,omitempty"`
	Rows    [][]string `json:"rows,omitempty"`
	// Data is the machine-readable form, for --output json.
	Data any `json:"data,omitempty"`
}

// Field is one labelled value.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}
