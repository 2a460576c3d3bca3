package engine_test

import (
	"testing"

	"github.com/chatops/chatops/engine"
)

// A custom command's bad declaration is reported at its own line of the file,
// whatever the other usage lines say.
func TestConfigGrammarErrors(t *testing.T) {
	tests := []struct {
		name, config, want string
	}{
		{
			// The message quotes "to", which is also the first command's whole
			// usage line: the mistake is still the second command's.
			name: "second command",
			config: `commands:
  - usage: "to"
    exec: {argv: [true]}
  - usage: "restart [to <a>] [to <b>]"
    exec: {argv: [true]}
`,
			want: `chatops.yaml:4: usage "restart [to <a>] [to <b>]": column 18: argument "to" declared twice`,
		},
		{
			name: "named like a built-in alias",
			config: `commands:
  - usage: "me <a>"
    exec: {argv: [true]}
`,
			want: `chatops.yaml:2: usage "me <a>": command name "me" is already an alias of whoami`,
		},
		{
			name: "default of a required argument",
			config: `commands:
  - usage: "restart <client>=acme"
    exec: {argv: [true]}
`,
			want: `chatops.yaml:2: usage "restart <client>=acme": column 9: required argument "client" cannot have a default`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := engine.ParseConfig("chatops.yaml", []byte(tt.config))
			if err == nil || err.Error() != tt.want {
				t.Errorf("ParseConfig:\n got %v\nwant %s", err, tt.want)
			}
			if code := engine.ErrorCode(err); code != engine.Invalid {
				t.Errorf("code %q, want %q", code, engine.Invalid)
			}
		})
	}
}
