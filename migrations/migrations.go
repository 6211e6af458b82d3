// Package migrations embeds the SQL migrations so the binary migrates its
// own database. Files are applied in name order by jackc/tern.
package migrations

import "embed"

// FS holds the *.sql migration files.
//
//go:embed *.sql
var FS embed.FS
