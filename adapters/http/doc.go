// Package http is the deploy driver that posts each change of a stage, as
// signed JSON, to a webhook the operator runs (engine.HTTPDriverConfig).
//
// # The request
//
// Every change is one POST to the configured URL:
//
//	POST /deploy HTTP/1.1
//	Content-Type: application/json
//	Accept: application/json
//	Idempotency-Key: <job id>
//	X-Chatops-Timestamp: 1700000000
//	X-Chatops-Signature: v1=<hex HMAC-SHA256 of "v1:1700000000:" + body>
//
//	{"action":"promote","pipeline":"shop","from":"staging","stage":"production",
//	 "version":"1.4.0","commit":"4f2a9c1","actor":"alice","job_id":"J42"}
//
// The body always holds action, pipeline, from, stage, version, commit,
// actor and job_id (empty strings where unknown) and, when set, branch, repo,
// force, ref and previous: the fields of engine.Deployment.
//
// The signature is Slack's v0 request signing under the name v1, so a
// receiver can reuse a Slack verifier with the prefix changed: the key is
// the secret read from the variable HTTPDriverConfig.SecretEnv names. Each
// try is signed afresh with its own timestamp, so a receiver that accepts a
// 5-minute window accepts a late retry too. A receiver in Go checks it with
// Verify:
//
//	func hook(w http.ResponseWriter, r *http.Request) {
//		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
//		if err := chatopshttp.Verify(secret, r.Header, body, time.Now(), 0); err != nil {
//			http.Error(w, err.Error(), http.StatusUnauthorized)
//			return
//		}
//		// Deduplicate by r.Header.Get("Idempotency-Key"), then deploy.
//	}
//
// # One deployment per job
//
// The driver retries connection errors and 408, 429 and 5xx answers
// (DefaultCheckRetry; 501 is an answer, not a passing failure), waiting as
// Retry-After asks (DefaultBackoff). A retried POST carries the same
// Idempotency-Key, the job id: a receiver must start at most one deployment
// per key, and answer a repeated key as it answered the first.
//
// # The answer
//
//   - 2xx: the change is done. An optional body {"message": "...",
//     "url": "...", "ref": "..."} fills engine.Deployed.
//   - 202 with {"status_url": "..."}: the change runs. The driver GETs
//     status_url (absolute, or relative to the deploy URL), signed the same
//     way over an empty body, every PollInterval until it answers
//     {"state": "success"|"failure"|"pending", "log": ["line", ...],
//     "message": "..."}. The log is the whole log so far: each line is sent
//     to progress once, as it first appears, and so is a new message.
//     "success" may carry "url" and "ref" too, for engine.Deployed.
//     "failure" is an *engine.DriverError with the message and the last 20 log lines.
//   - 409: the receiver refused the change before starting it (a lock, a
//     failing check): engine.Conflict with its message, which forcing may
//     pass. The body's "force" field says whether the person forced it.
//   - 501: the receiver does not make this kind of change (say, it only
//     deploys and was asked to roll back): engine.Invalid with its message.
//   - any other 4xx: a failed deployment, never retried, quoting the status
//     and the body's "message" (or its first 300 bytes).
//
// # Secrets
//
// The HMAC key never leaves the process: it is neither sent nor written to
// a log, an error, a progress line or Deployed. A webhook URL that holds a
// token may be kept out of the config too: written as $NAME, it is read from
// the variable NAME. URLs are written to logs and errors without their user
// info and query, so a token kept in the webhook's query string stays out of
// them too.
package http
