package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/jackc/pgx/v5"
)

// TestDatabaseRefusesUnbalancedTransactions checks the balance rule in the
// database itself, as the service's role: whatever the application sends,
// a journal transaction gets all its postings with it, at least two, and
// they balance.
func TestDatabaseRefusesUnbalancedTransactions(t *testing.T) {
	ctx := context.Background()
	url := testenv.NewDatabase(t)
	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET ROLE fundledger_app`); err != nil {
		t.Fatal(err)
	}
	journal := func(seq int) string {
		return `INSERT INTO journal VALUES ('f', ` + itoa(seq) + `, 'e', 't', 's', now(), '{}', decode(repeat('00', 32), 'hex'), decode(repeat('11', 32), 'hex'));`
	}
	posting := func(seq, line int, side, amount string) string {
		return `INSERT INTO postings VALUES ('f', ` + itoa(seq) + `, ` + itoa(line) + `, 'cash', '` + side + `', ` + amount + `);`
	}
	both := func(seq int, rows ...[3]string) string {
		var b strings.Builder
		b.WriteString(`INSERT INTO postings VALUES `)
		for i, r := range rows {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(`('f', ` + itoa(seq) + `, ` + r[0] + `, 'cash', '` + r[1] + `', ` + r[2] + `)`)
		}
		return journal(seq) + b.String()
	}
	run := func(sql string) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			for _, stmt := range strings.Split(sql, ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := run(both(1, [3]string{"0", "debit", "5.00"}, [3]string{"1", "credit", "5.00"})); err != nil {
		t.Fatalf("a balanced transaction was refused: %v", err)
	}
	for name, sql := range map[string]string{
		"unbalanced":                both(2, [3]string{"0", "debit", "5.00"}, [3]string{"1", "credit", "4.99"}),
		"one posting":               both(2, [3]string{"0", "debit", "5.00"}),
		"no journal row":            posting(2, 0, "debit", "1.00") + posting(2, 1, "credit", "1.00"),
		"added to an old one":       `INSERT INTO postings VALUES ('f', 1, 2, 'cash', 'debit', 1.00), ('f', 1, 3, 'cash', 'credit', 1.00)`,
		"split over two statements": journal(2) + posting(2, 0, "debit", "1.00") + posting(2, 1, "credit", "1.00"),
		"zero amount":               both(2, [3]string{"0", "debit", "0"}, [3]string{"1", "credit", "0"}),
		"more lines in a later statement": both(2, [3]string{"0", "debit", "1.00"}, [3]string{"1", "credit", "1.00"}) + ";" +
			`INSERT INTO postings VALUES ('f', 2, 2, 'cash', 'debit', 1.00), ('f', 2, 3, 'cash', 'credit', 1.00)`,
		"lines not from 0":   journal(2) + `INSERT INTO postings VALUES ('f', 2, 1, 'cash', 'debit', 1.00), ('f', 2, 2, 'cash', 'credit', 1.00)`,
		"a gap in the lines": journal(2) + `INSERT INTO postings VALUES ('f', 2, 0, 'cash', 'debit', 1.00), ('f', 2, 2, 'cash', 'credit', 1.00)`,
	} {
		err := run(sql)
		if err == nil {
			t.Errorf("%s: the database accepted it", name)
			continue
		}
		if !strings.Contains(err.Error(), "23514") {
			t.Errorf("%s: refused, but not by a check (%v)", name, err)
		}
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
