package options

import (
	"fmt"
	"strings"
)

// Markdown renders the table as the option reference, docs/options.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString("# Socket options\n\n")
	b.WriteString("Generated from `options.Table` by `go generate ./options` (checked by `TestDocsUpToDate`); do not edit.\n\n")
	b.WriteString("Errors, as Erlang/OTP's socket module answers them: an option unknown, unavailable on this platform or unsupported by this host's kernel\n")
	b.WriteString("answers `invalid socket_option` with the option as `invalid_value`, even on a closed socket; otherwise a closed\n")
	b.WriteString("socket answers `closed`; an option used against its Set/Get column answers `invalid socket_option`, a value of\n")
	b.WriteString("the wrong type or range `invalid socket_option` with the value (a range of Erlang's types, which Erlang's NIF leaves to\n")
	b.WriteString("the kernel: [erlang.md](erlang.md)); the kernel's refusal answers its POSIX name\n")
	b.WriteString("(`enoprotoopt`, `eperm`, ...). The requirements column repeats the comments of the option tables sockd was specified from: sockd does not enforce\n")
	b.WriteString("them, the kernel decides (as with Erlang's NIF), and it accepts some options on more kinds of socket.\n")
	b.WriteString("`Supports` reports per option whether this host's kernel accepts it, probed at start-up on scratch sockets.\n\n")
	b.WriteString("`rcvtimeo` and `sndtimeo` are never supported, as in a default OTP build: sockd's sockets are nonblocking, so\n")
	b.WriteString("a kernel timeout would never apply; use the `Timeout` of each call. `peek_off` is always reported unsupported.\n")
	for _, l := range Levels() {
		fmt.Fprintf(&b, "\n## Level `%s`\n\n", l)
		b.WriteString("| Option | Value type | Set | Get | Requirements | Notes |\n|---|---|---|---|---|---|\n")
		for i := range Table {
			o := &Table[i]
			if o.Level != l {
				continue
			}
			name := strings.Join(append([]string{o.Name}, o.Aliases...), " \\| ")
			notes := o.Notes
			if o.Unavailable != "" && notes != o.Unavailable {
				notes = o.Unavailable + ". " + notes
			}
			if o.Privileged {
				notes += " (privileged)"
			}
			if o.FromReference {
				notes += " (not in the specified tables; named by Erlang/OTP's socket_option() type)"
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s |\n", name,
				strings.ReplaceAll(o.Type.String(), "|", "\\|"), yesNo(o.Set), yesNo(o.Get),
				strings.ReplaceAll(o.Requires.Describe(), "|", "\\|"), strings.ReplaceAll(notes, "|", "\\|"))
		}
	}
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
