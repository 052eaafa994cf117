// Package migrations holds the dead-letter store's SQL migrations, applied
// with goose from this embedded file system.
package migrations

import "embed"

// FS holds the migrations, named NNNNN_what.sql.
//
//go:embed *.sql
var FS embed.FS
