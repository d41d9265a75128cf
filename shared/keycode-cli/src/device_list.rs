//! OpenPAYGO device-list CSV files, as the OpenPAYGO tools export them:
//! `Serial Number,Starting Code,Key,Count,Time Divider,Restricted Digit Mode,...`.

use keycode::SecretKey;

/// One device read from the list (its key redacts itself in Debug output).
#[derive(Debug)]
pub struct DeviceRow {
    pub starting_code: u32,
    pub key: SecretKey,
    pub count: u32,
    pub time_divider: u32,
    pub restricted_digit_set: bool,
}

/// Finds `serial` in the CSV text. Columns are found by header name, so
/// extra or reordered columns are fine; values hold no quoted commas in this
/// format.
pub fn find(text: &str, serial: &str) -> Result<DeviceRow, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .ok_or("the device list is empty")?
        .split(',')
        .map(|h| h.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("the device list has no \"{name}\" column"))
    };
    let (serial_col, start_col, key_col) = (
        column("serial number")?,
        column("starting code")?,
        column("key")?,
    );
    let count_col = column("count").ok();
    let divider_col = column("time divider").ok();
    let restricted_col = column("restricted digit mode").ok();
    for (number, line) in lines.enumerate() {
        let cells: Vec<&str> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        if cells.get(serial_col) != Some(&serial) {
            continue;
        }
        let row = number + 2;
        let cell = |col: Option<usize>| {
            col.and_then(|c| cells.get(c))
                .copied()
                .filter(|c| !c.is_empty())
        };
        let number_at = |col: Option<usize>, name: &str, default: u32| -> Result<u32, String> {
            cell(col).map_or(Ok(default), |c| {
                c.parse()
                    .map_err(|_| format!("row {row}: {name} {c:?} is not a number"))
            })
        };
        let key = SecretKey::from_hex(cell(Some(key_col)).unwrap_or_default())
            .map_err(|e| format!("row {row}: {e}"))?;
        return Ok(DeviceRow {
            starting_code: number_at(Some(start_col), "starting code", 0)?,
            key,
            count: number_at(count_col, "count", 1)?,
            time_divider: number_at(divider_col, "time divider", 1)?,
            restricted_digit_set: matches!(
                cell(restricted_col),
                Some("1" | "true" | "True" | "TRUE" | "yes")
            ),
        });
    }
    Err(format!(
        "serial number {serial:?} is not in the device list"
    ))
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
    fn reports_missing_serials_and_bad_cells() {
        assert!(find(LIST, "NOPE").unwrap_err().contains("NOPE"));
        let bad = LIST.replace("516959010", "51x");
        assert!(find(&bad, "TEST220000001").unwrap_err().contains("row 2"));
    }
}
