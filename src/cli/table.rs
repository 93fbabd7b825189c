//! Docker's row output: a template per row, and for `table` formats a header
//! row and columns aligned by a tabwriter set up like Docker's
//! (`tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`).

use serde_json::{Map, Value};

use crate::format::{FormatError, FormatSpec, Template};

/// Aligns tab-separated text into columns exactly like Go's text/tabwriter
/// with `padchar ' '` and no flags: a column is as wide as its widest cell
/// plus `padding`, but at least `minwidth`; the text after a line's last tab
/// is not part of any column; a line with fewer cells ends the column block.
/// (The tabwriter crate adds the padding on top of `minwidth`, which Docker does not.)
pub fn align(text: &str, minwidth: usize, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut w = GoTabWriter {
        lines: &lines,
        minwidth,
        padding,
        widths: Vec::new(),
        out: String::with_capacity(text.len() * 2),
    };
    w.format(0, lines.len());
    w.out
}

struct GoTabWriter<'a> {
    lines: &'a [Vec<&'a str>],
    minwidth: usize,
    padding: usize,
    widths: Vec<usize>,
    out: String,
}

impl GoTabWriter<'_> {
    /// Go's `Writer.format`: find blocks of lines sharing the next column,
    /// size that column, and recurse for the columns to its right.
    fn format(&mut self, mut line0: usize, line1: usize) {
        let column = self.widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= self.lines[this].len() {
                this += 1;
                continue;
            }
            self.write_lines(line0, this);
            line0 = this;
            let mut width = self.minwidth;
            while this < line1 && column + 1 < self.lines[this].len() {
                width = width.max(self.lines[this][column].chars().count() + self.padding);
                this += 1;
            }
            self.widths.push(width);
            self.format(line0, this);
            self.widths.pop();
            line0 = this;
        }
        self.write_lines(line0, line1);
    }

    fn write_lines(&mut self, line0: usize, line1: usize) {
        for i in line0..line1 {
            for (j, cell) in self.lines[i].iter().enumerate() {
                self.out.push_str(cell);
                if let Some(&width) = self.widths.get(j) {
                    let pad = width.saturating_sub(cell.chars().count());
                    self.out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            if i + 1 < self.lines.len() {
                self.out.push('\n');
            }
        }
    }
}

/// Renders `rows` with `spec`. `headers` maps each field name to its column
/// title for the header row of table formats.
pub fn render(
    spec: &FormatSpec,
    headers: &[(&str, &str)],
    rows: &[Value],
) -> Result<String, FormatError> {
    let template = Template::parse(&spec.template)?;
    let mut body = String::new();
    if spec.table {
        let header: Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        body.push_str(&template.render(&Value::Object(header))?);
        body.push('\n');
    }
    for row in rows {
        body.push_str(&template.render(row)?);
        body.push('\n');
    }
    if spec.table {
        Ok(align(&body, 10, 3))
    } else {
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_matches_docker_layout() {
        let spec = FormatSpec::parse("", "{{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.Size}}");
        let rows = vec![
            json!({"Repository": "busybox", "Tag": "latest", "ID": "0123456789ab", "Size": "4.26MB"}),
            json!({"Repository": "berth-test/a-long-name", "Tag": "v1", "ID": "ba9876543210", "Size": "1kB"}),
        ];
        let headers = [
            ("Repository", "REPOSITORY"),
            ("Tag", "TAG"),
            ("ID", "IMAGE ID"),
            ("Size", "SIZE"),
        ];
        let out = render(&spec, &headers, &rows).unwrap();
        assert!(out.ends_with("1kB\n"));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "REPOSITORY               TAG       IMAGE ID       SIZE"
        );
        assert_eq!(
            lines[1],
            "busybox                  latest    0123456789ab   4.26MB"
        );
        assert_eq!(
            lines[2],
            "berth-test/a-long-name   v1        ba9876543210   1kB"
        );
    }

    #[test]
    fn go_tabwriter_blocks() {
        // A line without tabs ends the block; the last cell is never padded.
        let text = "a\tb\tc\nlonger-cell\tx\nplain\nq\tr\n";
        assert_eq!(
            align(text, 0, 1),
            "a           b c\nlonger-cell x\nplain\nq r\n"
        );
        assert_eq!(align(" Version:\t1\n", 20, 1), " Version:           1\n");
        assert_eq!(align("é\tx", 3, 1), "é  x");
    }

    #[test]
    fn plain_format_has_no_header() {
        let spec = FormatSpec::parse("{{.ID}}", "");
        let out = render(
            &spec,
            &[("ID", "IMAGE ID")],
            &[json!({"ID": "a"}), json!({"ID": "b"})],
        )
        .unwrap();
        assert_eq!(out, "a\nb\n");
    }
}
