// Package heroku promotes and rolls back a pipeline's stages through Heroku's
// Platform API (https://api.heroku.com, version 3).
//
// A promotion copies the source stage's current release onto the target
// stage's app, as "heroku pipelines:promote" does:
//
//	POST /pipeline-promotions
//	{"pipeline": {"id": "<pipeline id>"},
//	 "source": {"app": {"id": "<source app id>"}},
//	 "targets": [{"app": {"id": "<target app id>"}}]}
//
// then the driver reads GET /pipeline-promotions/{id}/promotion-targets every
// PollInterval until each target is "succeeded" or "failed", sending each
// change of a target's status to progress once. Apps named by name are
// resolved to ids once, with GET /apps/{name}, and cached.
//
// A rollback returns the stage's app to the release chatops kept as the
// release's Ref when it was deployed (Heroku's "Release Rollback"):
//
//	POST /apps/{app}/releases
//	{"release": "<release id or version>"}
//
// and follows GET /apps/{app}/releases/{id} while its status is "pending".
// Releases and deploys are not the Heroku driver's to make: a stage on Heroku
// changes by promotion from the stage before it.
//
// # One promotion per job
//
// Heroku's Platform API reference documents no idempotency header and no way
// to list a pipeline's promotions by a key of ours. The driver therefore
// makes a retried POST safe in two ways:
//
//   - every POST carries "Idempotency-Key: <job id>", as Stripe-style APIs
//     take it. Heroku ignores headers it does not know, so this breaks
//     nothing, and a proxy or a future Heroku that honours it deduplicates
//     the retry;
//   - DefaultCheckRetry retries a POST only when Heroku answered that it did
//     nothing (429, 5xx: the router's or the API's refusal) or when the
//     connection failed before the request was sent (a dial error). A POST
//     whose connection broke after it was sent is not retried: the driver
//     reports that the outcome is unknown instead of risking a second
//     promotion.
//
// (net/http's Transport itself replays a request carrying an Idempotency-Key
// once when a reused keep-alive connection turns out closed; the key is what
// makes that safe too.) GET requests are retried on every passing failure.
//
// # Errors
//
// Heroku's errors come as {"id": "...", "message": "..."}; the message is
// what the person reads. A 409 is a refusal before anything started
// (engine.Conflict); 401, 403, 404 and 422 are failures at once, never
// retried; a failed target reports its error_message. The token travels only
// in the Authorization header and appears in no log line, error, progress
// line or Deployed.
package heroku
