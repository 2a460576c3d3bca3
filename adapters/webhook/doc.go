// Package webhook receives reports from CI/CD systems and publishes them as
// pipeline events (engine.Event), which notifications post to the pipeline's
// channel and chatops watch prints. It serves two endpoints:
//
//	POST /hooks/github    GitHub's webhooks, signed with X-Hub-Signature-256
//	POST /hooks/generic   a small JSON report, signed with the v1 scheme
//
// Every request is verified before its body is parsed, with a secret each
// endpoint has to itself: GITHUB_WEBHOOK_SECRET for GitHub, and
// CHATOPS_WEBHOOK_SECRET for the generic endpoint, whose signature is the one
// the http deploy driver sends:
//
//	X-Chatops-Timestamp: 1700000000
//	X-Chatops-Signature: v1=<hex HMAC-SHA256 of "v1:1700000000:" + body>
//
// An endpoint without its secret answers 404, so none is open by mistake.
//
// # GitHub
//
// The repository's full_name finds the pipelines (the repo key of each
// pipeline in chatops.yaml); an event is published once for each pipeline
// of that repository, as github/<X-GitHub-Delivery>/<pipeline>, so a
// redelivery is dropped by the store's deduplication. These events are
// reported; any other event or action is answered 202 with the reason it
// was ignored:
//
//	deployment (created)       action deployment, state pending
//	deployment_status          action deployment, state from its state
//	workflow_run (completed)   action ci, state from its conclusion
//	check_suite (completed)    action ci, state from its conclusion
//
// A deployment's environment is its stage, read as stage arguments are
// (prod means production). Its version is the deployment payload's
// "version" when that is a string; else its ref, unless the ref is the
// default branch or the sha itself; else the short sha. A CI run's version
// is whatever Receiver.VersionOf says holds its commit, or the short sha.
//
// GitHub signs the body but not the headers, and signs no timestamp: a body
// captured on the way could be sent again under another delivery id. Serve
// the endpoint over HTTPS only.
//
// # Answers
//
//	200 ping
//	202 {"published": N}, or {"ignored": "<why>"}
//	400 a body that is not what the endpoint reads, naming the field or the
//	    line and column
//	401 a signature that is missing or does not match; nothing is published
//	404 the endpoint's secret is not configured
//	405 not a POST
//	413 a body over the endpoint's limit
//	422 a report for no configured pipeline or stage, or with a bad value
//	503 the event store is unavailable: try again
//	500 anything else; the detail is in the server log only
//
// Every error body is {"error": "..."}, with "errors" listing them all when
// there are several.
package webhook
