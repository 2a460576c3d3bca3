// Package terminal drives the engine from a shell: it renders results as aligned
// text or JSON, asks for confirmation on a TTY, and maps error codes to exit
// statuses.
//
// Nothing it prints lets stored text act on the terminal. Text comes from the
// ledger, the audit stream, webhooks and programs' output, some of it older than
// the grammar's refusal of control characters, so every renderer writes control
// characters (C0, DEL, C1) and bytes that are not UTF-8 the way Go quotes them:
// ESC as \x1b, a newline inside a table cell as \n, U+009B as \u009b (see
// grammar.Visible). Text shown as lines, a result's text and error messages,
// keeps its newlines and tabs. JSON output escapes them as \u001b.
package terminal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
	"golang.org/x/term"
)

// Exit statuses, as DESIGN.md defines them.
const (
	ExitOK       = 0
	ExitFailed   = 1
	ExitInvalid  = 2
	ExitDenied   = 3
	ExitConflict = 4
)

// ExitCode maps an engine error to the process's exit status.
func ExitCode(err error) int {
	switch engine.ErrorCode(err) {
	case "":
		return ExitOK
	case engine.Invalid, engine.NotFound:
		return ExitInvalid
	case engine.Denied:
		return ExitDenied
	case engine.Conflict:
		return ExitConflict
	}
	return ExitFailed
}

// IsTTY reports whether f is a terminal (not merely a character device such as
// /dev/null).
func IsTTY(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Style says how to write: colour only on a terminal and never with NO_COLOR.
type Style struct{ Color bool }

// StyleFor returns the style for writing to f.
func StyleFor(f *os.File) Style {
	_, noColor := os.LookupEnv("NO_COLOR")
	return Style{Color: !noColor && IsTTY(f)}
}

func (s Style) wrap(code, text string) string {
	if !s.Color || text == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

// Bold, Red and Dim style text when colour is on.
func (s Style) Bold(t string) string { return s.wrap("1", t) }
func (s Style) Red(t string) string  { return s.wrap("31", t) }
func (s Style) Dim(t string) string  { return s.wrap("2", t) }

// Render writes a result as text: the title over a table or fields, then the text.
func Render(w io.Writer, res *engine.Result, st Style) error {
	bw := bufio.NewWriter(w)
	if len(res.Rows) > 0 || len(res.Fields) > 0 {
		fmt.Fprintln(bw, st.Bold(grammar.Visible(res.Title)))
	}
	if len(res.Fields) > 0 {
		width := 0
		for _, f := range res.Fields {
			width = max(width, utf8.RuneCountInString(grammar.Visible(f.Name)))
		}
		for _, f := range res.Fields {
			if f.Value == "" {
				continue
			}
			name := grammar.Visible(f.Name)
			fmt.Fprintf(bw, "  %s%s  %s\n", st.Dim(name+":"), strings.Repeat(" ", width-utf8.RuneCountInString(name)), grammar.Visible(f.Value))
		}
	}
	if len(res.Rows) > 0 {
		var table strings.Builder
		tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
		cols := trimEmptyColumns(res.Columns, res.Rows)
		fmt.Fprintln(tw, "  "+strings.Join(pick(res.Columns, cols), "\t"))
		for _, row := range res.Rows {
			fmt.Fprintln(tw, "  "+strings.Join(pick(row, cols), "\t"))
		}
		tw.Flush()
		for _, line := range strings.SplitAfter(table.String(), "\n") {
			if line != "" {
				bw.WriteString(strings.TrimRight(line, " \n") + "\n")
			}
		}
	}
	if res.Text != "" {
		if len(res.Rows) > 0 || len(res.Fields) > 0 {
			fmt.Fprintln(bw)
		}
		fmt.Fprintln(bw, grammar.VisibleLines(strings.TrimRight(res.Text, "\n")))
	}
	return bw.Flush()
}

// trimEmptyColumns keeps the columns that have a value in some row.
func trimEmptyColumns(cols []string, rows [][]string) []int {
	var keep []int
	for i := range cols {
		for _, r := range rows {
			if i < len(r) && r[i] != "" {
				keep = append(keep, i)
				break
			}
		}
	}
	return keep
}

// pick returns the cells of row in cols, each on one line and without a tab,
// which would start a column of its own.
func pick(row []string, cols []int) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		if c < len(row) {
			out[i] = grammar.Visible(row[c])
		}
	}
	return out
}

// RenderJSON writes a result's data as indented JSON.
func RenderJSON(w io.Writer, res *engine.Result) error {
	return encodeJSON(w, res.Data)
}

// encodeJSON writes v as indented JSON with every control character escaped.
// encoding/json escapes C0 (\u001b) but writes DEL and C1 as they are, which
// JSON allows and a terminal acts on; they only occur inside strings, where
// \u0085 means the same character, so escaping them keeps the data the same.
func encodeJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	out := b.Bytes()
	if bytes.IndexByte(out, 0x7f) >= 0 || bytes.IndexByte(out, 0xc2) >= 0 {
		out = escapeC1(out)
	}
	_, err := w.Write(out)
	return err
}

// escapeC1 writes DEL and the UTF-8 encodings of U+0080–U+009F in JSON text as
// \u escapes.
func escapeC1(js []byte) []byte {
	out := make([]byte, 0, len(js)+16)
	for i := 0; i < len(js); i++ {
		switch c := js[i]; {
		case c == 0x7f:
			out = append(out, `\u007f`...)
		case c == 0xc2 && i+1 < len(js) && 0x80 <= js[i+1] && js[i+1] <= 0x9f:
			out = fmt.Appendf(out, `\u%04x`, js[i+1])
			i++
		default:
			out = append(out, c)
		}
	}
	return out
}

// RenderError writes an error for a person: the message, and for an internal
// error only its reference.
func RenderError(w io.Writer, err error, st Style) {
	var detailed interface{ Detail() string }
	if errors.As(err, &detailed) {
		fmt.Fprint(w, grammar.VisibleLines(detailed.Detail()))
		return
	}
	// A message may quote stored text: a lock's reason, a driver's answer.
	fmt.Fprintln(w, st.Red("error:")+" "+grammar.VisibleLines(engine.ErrorMessage(err)))
}

// RenderErrorJSON writes {"error":{"code":…,"message":…}}. A diagnostic of
// the grammar also carries its 1-based column, the usage lines of the command
// when the shape of the line was wrong, and what the person may have meant.
func RenderErrorJSON(w io.Writer, err error) {
	e := map[string]any{"code": string(engine.ErrorCode(err)), "message": engine.ErrorMessage(err)}
	var ge *grammar.Error
	if errors.As(err, &ge) {
		e["code"], e["message"], e["column"] = string(engine.Invalid), ge.Msg, ge.Column()
		if len(ge.Usage) > 0 {
			e["usage"] = ge.Usage
		}
		if len(ge.Suggest) > 0 {
			e["suggest"] = ge.Suggest
		}
	}
	_ = encodeJSON(w, map[string]any{"error": e})
}

// Confirm asks question on out and reads y or yes from in.
func Confirm(in io.Reader, out io.Writer, question string) bool {
	fmt.Fprintf(out, "%s [y/N] ", grammar.Visible(question))
	line, _ := bufio.NewReader(in).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}
