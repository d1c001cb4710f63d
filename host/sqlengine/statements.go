package sqlengine

import "strings"

// splitStatements cuts SQL text at the semicolons that end statements,
// skipping those inside string literals, quoted identifiers and comments.
// Statements holding only whitespace and comments are dropped. (A trigger
// body would be cut wrongly, but queries here cannot create triggers.)
func splitStatements(sql string) []string {
	var out []string
	start := 0
	meaningful := false
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; c {
		case '\'', '"', '`', '[':
			closer := c
			if c == '[' {
				closer = ']'
			}
			meaningful = true
			for i++; i < len(sql); i++ {
				if sql[i] == closer {
					if closer != ']' && i+1 < len(sql) && sql[i+1] == closer {
						i++ // doubled quote is an escaped quote
						continue
					}
					break
				}
			}
		case '-':
			if i+1 < len(sql) && sql[i+1] == '-' {
				if end := strings.IndexByte(sql[i:], '\n'); end >= 0 {
					i += end
				} else {
					i = len(sql)
				}
				continue
			}
			meaningful = true
		case '/':
			if i+1 < len(sql) && sql[i+1] == '*' {
				if end := strings.Index(sql[i+2:], "*/"); end >= 0 {
					i += end + 3
				} else {
					i = len(sql)
				}
				continue
			}
			meaningful = true
		case ';':
			if meaningful {
				out = append(out, sql[start:i+1])
			}
			start, meaningful = i+1, false
		case ' ', '\t', '\n', '\r', '\f':
		default:
			meaningful = true
		}
	}
	if meaningful {
		out = append(out, sql[start:])
	}
	return out
}
