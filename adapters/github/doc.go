// Package github deploys a pipeline's stages through GitHub's REST
// Deployments API, in the pipeline's repository.
//
// Every change (release, deploy, promote, rollback) becomes one GitHub
// deployment:
//
//	POST /repos/{owner}/{repo}/deployments
//	{"ref": "<commit, else branch, else version>", "environment": "<stage>",
//	 "task": "deploy", "auto_merge": false,
//	 "description": "promote shop v1.4.2 to production by alice",
//	 "payload": {<the whole engine.Deployment, job_id included>}}
//
// A forced change also sends "required_contexts": [] so that GitHub skips the
// required status checks. GitHub answers 409 when those checks fail or the
// ref cannot be merged: the driver reports it as an engine.Conflict, which a
// person allowed to force may pass with the command's ! form.
//
// Then the driver follows the deployment's statuses (newest first, as GitHub
// lists them) every PollInterval until the newest says success, failure or
// error (inactive counts as a failure), sending each new status to progress
// once. Whoever actually deploys (a GitHub Actions workflow on the
// deployment event, or any other integration) writes those statuses.
//
// # One deployment per job
//
// GitHub takes no idempotency key, so a POST retried after a lost answer
// could create a second deployment. The driver puts the job id into the
// deployment's payload and, before the first POST and before every retry of
// it, lists the environment's recent deployments of the same ref
// (GET /repos/{owner}/{repo}/deployments?environment=…&task=deploy&ref=…) and
// follows the one whose payload.job_id is the job's instead of creating
// another. A job run again after a crash therefore finds its deployment too.
//
// # Retries
//
// Every call goes through go-retryablehttp with the driver's CheckRetry and
// Backoff policies: connection errors, 5xx, 429 and GitHub's rate limits
// (403 or 429 with Retry-After, or x-ratelimit-remaining: 0) are retried,
// honouring Retry-After and x-ratelimit-reset; 401, 403, 404 and 422 are
// failures at once. The token travels only in the Authorization header and
// appears in no log line, error or progress line.
package github
