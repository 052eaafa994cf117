// Package adobesim plays Adobe for local runs, tests and benchmarks: the IMS
// endpoint that mints OAuth server-to-server tokens, and the AJO B2B
// endpoint that receives callbacks. It checks callbacks the way Adobe does,
// records each one, and can be told by fault rules to answer a token's
// callbacks with errors, delays or a dropped connection.
//
// # Endpoints
//
//   - POST /ims/token/v3 takes a form with grant_type=client_credentials,
//     client_id, client_secret and scope, and answers with an access_token,
//     token_type and expires_in. Credentials in the query string are refused.
//     The simulator may know several clients (Config.Clients); each token
//     remembers the one it was minted for.
//   - POST /callback/... (any path below it) takes a callback. The checks
//     run in Adobe's order: the bearer token (401, error_code 401013); the
//     X-Callback-Token, X-Request-Id and x-gw-ims-org-id headers (401
//     UNAUTHORIZED); X-Api-Key, which must be the client id of the bearer
//     token's client unless an API key is configured (403, error_code
//     403003); the organization, when one is configured or the token's
//     client names its orgs (403 FORBIDDEN); Content-Type (400); then the
//     body, at most 1 MiB, against the callback envelope (400
//     INVALID_CALLBACK). Only then does a fault script decide the answer;
//     without one the callback is accepted with 200.
//   - GET /sim/received?token=X lists the records of one token, or of all
//     requests without the parameter, with the number of tokens minted.
//   - GET /sim/stats gives the counts; GET /sim/rules the rules in force.
//   - PUT /sim/rules sets one rule given as {"match":…,"script":…}, and
//     answers 400 naming the problem when it is bad. DELETE /sim/rules
//     removes them all.
//   - POST /sim/revoke makes every token minted so far fail; POST
//     /sim/reset forgets the records and counts.
//
// # Fault scripts
//
// A script is a comma-separated list of steps. Each valid callback of a
// token takes the next step; once the steps are used up, callbacks are
// accepted. A step is written ACTION[:RETRY][@DELAY][*REPEAT]:
//
//   - ACTION is an HTTP status (2xx to 5xx; a 3xx carries a Location), answered with a body like
//     Adobe's for it, or "close", which drops the connection unanswered. A
//     401 models an expired bearer token for one callback.
//   - RETRY, for 429 and 503 only, sets Retry-After: whole seconds ("429:2"),
//     or "date" and seconds for an HTTP date that far ahead ("429:date2").
//   - DELAY holds the answer back for a Go duration ("200@1500ms"), at most
//     MaxDelay; it ends early, dropping the connection, when the request's
//     context does.
//   - REPEAT uses the step that many times in a row ("503*5").
//
// For example, "503*2,429:date1,200@2s" answers 503 twice, then 429 with a
// Retry-After one second ahead, then accepts after two seconds.
package adobesim
