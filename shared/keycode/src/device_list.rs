//! OpenPAYGO device-list CSV files, as the OpenPAYGO tools export them:
//! `Serial Number,Starting Code,Key,Count,Time Divider,Restricted Digit Mode,...`.
//!
//! Columns are found by header name, so extra or reordered columns are fine;
//! values hold no quoted commas in this format. Two columns are the
//! platform's own, for devices moved from another system with credit left:
//! `Credit State` (`locked`, `active`, `unlocked`) and `Credit Until`
//! (RFC 3339), handed on as text for the importer to check.

use crate::SecretKey;

/// One device read from the list (its key redacts itself in Debug output).
#[derive(Debug, Clone)]
pub struct DeviceRow {
    /// The 1-based line number in the file, for error messages.
    pub line: usize,
    /// The `Serial Number` column.
    pub serial: String,
    /// The `Starting Code` column.
    pub starting_code: u32,
    /// The `Key` column.
    pub key: SecretKey,
    /// The `Count` column (1 when absent).
    pub count: u32,
    /// The `Time Divider` column (1 when absent).
    pub time_divider: u32,
    /// The `Restricted Digit Mode` column.
    pub restricted_digit_set: bool,
    /// The `Credit State` column, as written.
    pub credit_state: Option<String>,
    /// The `Credit Until` column, as written.
    pub credit_until: Option<String>,
}

/// Reads every device in the list, failing on the first unusable row.
pub fn read_all(text: &str) -> Result<Vec<DeviceRow>, String> {
    rows(text)?.collect()
}

/// Finds `serial` in the list.
pub fn find(text: &str, serial: &str) -> Result<DeviceRow, String> {
    for row in rows(text)? {
        let row = row?;
        if row.serial == serial {
            return Ok(row);
        }
    }
    Err(format!(
        "serial number {serial:?} is not in the device list"
    ))
}

struct Columns {
    serial: usize,
    starting_code: usize,
    key: usize,
    count: Option<usize>,
    time_divider: Option<usize>,
    restricted: Option<usize>,
    credit_state: Option<usize>,
    credit_until: Option<usize>,
}

fn rows(text: &str) -> Result<impl Iterator<Item = Result<DeviceRow, String>> + '_, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or("the device list is empty")?;
    let header: Vec<String> = header
        .split(',')
        .map(|h| h.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    let column = |name: &str| header.iter().position(|h| h == name);
    let required = |name: &str| {
        column(name).ok_or_else(|| format!("the device list has no \"{name}\" column"))
    };
    let columns = Columns {
        serial: required("serial number")?,
        starting_code: required("starting code")?,
        key: required("key")?,
        count: column("count"),
        time_divider: column("time divider"),
        restricted: column("restricted digit mode"),
        credit_state: column("credit state"),
        credit_until: column("credit until"),
    };
    Ok(lines.map(move |(index, line)| parse_row(&columns, index + 1, line)))
}

fn parse_row(columns: &Columns, line_number: usize, line: &str) -> Result<DeviceRow, String> {
    let cells: Vec<&str> = line
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .collect();
    let cell = |col: Option<usize>| {
        col.and_then(|c| cells.get(c))
            .copied()
            .filter(|c| !c.is_empty())
    };
    let number_at = |col: Option<usize>, name: &str, default: u32| -> Result<u32, String> {
        cell(col).map_or(Ok(default), |c| {
            c.parse()
                .map_err(|_| format!("line {line_number}: {name} {c:?} is not a number"))
        })
    };
    let serial = cell(Some(columns.serial))
        .ok_or_else(|| format!("line {line_number}: the serial number is empty"))?;
    let key = SecretKey::from_hex(cell(Some(columns.key)).unwrap_or_default())
        .map_err(|e| format!("line {line_number}: {e}"))?;
    Ok(DeviceRow {
        line: line_number,
        serial: serial.to_owned(),
        starting_code: number_at(Some(columns.starting_code), "starting code", 0)?,
        key,
        count: number_at(columns.count, "count", 1)?,
        time_divider: number_at(columns.time_divider, "time divider", 1)?,
        restricted_digit_set: matches!(
            cell(columns.restricted),
            Some("1" | "true" | "True" | "TRUE" | "yes")
        ),
        credit_state: cell(columns.credit_state).map(str::to_owned),
        credit_until: cell(columns.credit_until).map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str =
        "Serial Number,Starting Code,Key,Count,Time Divider,Restricted Digit Mode,Hardware Model\n\
        TEST220000001,516959010,bc41ec9530f6dac86b1a29ab82edc5fb,1,1,0,X\n\
        TEST240000002,432435255,dac86b1a29ab82edc5fbbc41ec9530f6,10,24,1,Y\n";

    #[test]
    fn finds_a_device_by_serial() {
        let row = find(LIST, "TEST240000002").unwrap();
        assert_eq!(
            (
                row.starting_code,
                row.count,
                row.time_divider,
                row.restricted_digit_set
            ),
            (432435255, 10, 24, true)
        );
    }

    #[test]
    fn reads_every_row_and_reports_bad_cells_by_line() {
        let all = read_all(LIST).unwrap();
        assert_eq!(
            all.iter()
                .map(|r| (r.serial.as_str(), r.line))
                .collect::<Vec<_>>(),
            [("TEST220000001", 2), ("TEST240000002", 3)]
        );
        assert!(find(LIST, "NOPE").unwrap_err().contains("NOPE"));
        let bad = LIST.replace("516959010", "51x");
        assert!(read_all(&bad).unwrap_err().contains("line 2"));
    }
}
