package http_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	chatopshttp "github.com/chatops/chatops/adapters/http"
)

// TestREADMEVerifiers: the verifying snippets the README gives receivers
// accept what Sign makes and refuse an altered body. They run as written,
// with go run and python3 (skipped where python3 is missing).
func TestREADMEVerifiers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the README's snippets")
	}
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(data), "#### The http driver's webhook")
	snippet := func(lang string) string {
		_, rest, ok := strings.Cut(section, "```"+lang+"\n")
		code, _, ok2 := strings.Cut(rest, "```")
		if !ok || !ok2 {
			t.Fatalf("the README's http webhook section has no %s snippet", lang)
		}
		return code
	}
	secret, body := []byte("s3cret"), `{"action":"promote","pipeline":"web"}`
	h := chatopshttp.Sign(secret, time.Now(), []byte(body))
	ts, sig := h.Get(chatopshttp.TimestampHeader), h.Get(chatopshttp.SignatureHeader)
	dir := t.TempDir()

	goMain := `package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	r, _ := http.NewRequest("POST", "/", nil)
	r.Header.Set("X-Chatops-Timestamp", os.Args[1])
	r.Header.Set("X-Chatops-Signature", os.Args[2])
	fmt.Println(verify([]byte("s3cret"), r, []byte(os.Args[3])))
}
` + snippet("go")
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(goMain), 0o600); err != nil {
		t.Fatal(err)
	}
	pyMain := "import hashlib, hmac, sys, time\n" + snippet("python") +
		"print(verify(b's3cret', {'X-Chatops-Timestamp': sys.argv[1], 'X-Chatops-Signature': sys.argv[2]}, sys.argv[3].encode()))\n"
	if err := os.WriteFile(filepath.Join(dir, "verify.py"), []byte(pyMain), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		if _, err := exec.LookPath(name); err != nil {
			t.Logf("%s is not installed: its snippet is not run", name)
			return
		}
		for b, want := range map[string]string{body: "true", body + " ": "false"} {
			cmd := exec.Command(name, append(args, ts, sig, b)...)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, out)
			}
			if got := strings.ToLower(strings.TrimSpace(string(out))); got != want {
				t.Errorf("the README's %s verifier says %s of body %q, want %s", name, got, b, want)
			}
		}
	}
	run("go", "run", "main.go")
	run("python3", "verify.py")
}
