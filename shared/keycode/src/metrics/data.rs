//! A request's data in the simple form, as the reference's server side
//! expands it (`MetricsResponseHandler.get_simple_metrics`): `data` and each
//! time step of `historical_data` named by the data format's orders
//! (arrays by position, objects by index keys), and every time step given
//! its `timestamp` from its own, from a `relative_time` after the step
//! before it, or from `historical_data_interval` (negative for newest
//! first) after the data's collection time.
//!
//! One deliberate difference: the reference drops values beyond the
//! format's order without a word (its check for them compares an empty
//! list); here they are [`ExpandError::TooManyValues`], so a device whose
//! format is wrong is told instead of losing data.

use super::json::MetricsValue;
use super::{to_simple_names, MetricsRequest};

/// The parts of a data format the expansion reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataFormat {
    /// The names of `data`'s values, in order.
    pub data_order: Option<Vec<String>>,
    /// The names of each time step's values, in order.
    pub historical_data_order: Option<Vec<String>>,
    /// Seconds between time steps that carry no time of their own.
    pub historical_data_interval: Option<i64>,
}

/// Why a request's data cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// The data format is not an object of the specification's fields.
    #[error("the data format is malformed: {0}")]
    BadFormat(&'static str),
    /// `data` is an array and the format has no `data_order`.
    #[error("`data` is an array but there is no data format with a `data_order` for it")]
    NoDataOrder,
    /// A time step is an array and the format has no `historical_data_order`.
    #[error("`historical_data` holds arrays but there is no data format with a `historical_data_order` for them")]
    NoHistoricalOrder,
    /// More values than the format names (the field, how many it names).
    #[error("`{field}` has more values than the data format's {names} names")]
    TooManyValues {
        /// `data`, or `historical_data[i]`.
        field: String,
        /// How many the format names.
        names: usize,
    },
    /// A time step is neither an array nor an object.
    #[error("`historical_data[{0}]` is neither an array nor an object")]
    BadStep(usize),
    /// `data` is neither an array nor an object.
    #[error("`data` is neither an array nor an object")]
    BadData,
    /// A time step has no time and the format has no interval.
    #[error(
        "`historical_data[{0}]` has no time and the data format has no `historical_data_interval`"
    )]
    NoInterval(usize),
    /// A time that is not a whole number of seconds.
    #[error("`{0}` is not a whole number of seconds")]
    BadTime(String),
}

fn names(
    value: Option<&MetricsValue>,
    what: &'static str,
) -> Result<Option<Vec<String>>, ExpandError> {
    match value {
        None | Some(MetricsValue::Null) => Ok(None),
        Some(MetricsValue::Array(items)) => items
            .iter()
            .map(|item| match item {
                MetricsValue::String(name) => Ok(name.clone()),
                _ => Err(ExpandError::BadFormat(what)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(ExpandError::BadFormat(what)),
    }
}

fn whole_seconds(value: &MetricsValue, field: &str) -> Result<i64, ExpandError> {
    match value {
        MetricsValue::Int(digits) => digits
            .parse()
            .map_err(|_| ExpandError::BadTime(field.to_owned())),
        _ => Err(ExpandError::BadTime(field.to_owned())),
    }
}

impl DataFormat {
    /// Reads a format object (registered or inline).
    pub fn from_value(value: &MetricsValue) -> Result<DataFormat, ExpandError> {
        if !matches!(value, MetricsValue::Object(_)) {
            return Err(ExpandError::BadFormat("not an object"));
        }
        let interval = match value.get("historical_data_interval") {
            None | Some(MetricsValue::Null) => None,
            Some(v) => Some(whole_seconds(v, "historical_data_interval")?),
        };
        Ok(DataFormat {
            data_order: names(value.get("data_order"), "data_order is not a list of names")?,
            historical_data_order: names(
                value.get("historical_data_order"),
                "historical_data_order is not a list of names",
            )?,
            historical_data_interval: interval,
        })
    }
}

type Fields = Vec<(String, MetricsValue)>;

/// `data` under its names: an object as sent, an array named by
/// `data_order` (missing trailing values as null), nothing as `{}`.
pub fn simple_data(
    data: Option<&MetricsValue>,
    format: Option<&DataFormat>,
) -> Result<Fields, ExpandError> {
    match data {
        Some(value) if !value.is_truthy() => Ok(Vec::new()),
        None => Ok(Vec::new()),
        Some(MetricsValue::Object(fields)) => Ok(fields.clone()),
        Some(MetricsValue::Array(values)) => {
            let order = format
                .and_then(|f| f.data_order.as_ref())
                .filter(|o| !o.is_empty())
                .ok_or(ExpandError::NoDataOrder)?;
            if values.len() > order.len() {
                return Err(ExpandError::TooManyValues {
                    field: "data".into(),
                    names: order.len(),
                });
            }
            let named: Fields = order
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    (
                        name.clone(),
                        values.get(i).cloned().unwrap_or(MetricsValue::Null),
                    )
                })
                .collect();
            Ok(to_simple_names(&named))
        }
        Some(_) => Err(ExpandError::BadData),
    }
}

/// Each time step under its names: arrays by `historical_data_order`
/// position, objects with index keys (`"0"`, `"1"`, ...) renamed and other
/// keys kept.
pub fn simple_steps(
    historical: Option<&MetricsValue>,
    format: Option<&DataFormat>,
) -> Result<Vec<Fields>, ExpandError> {
    let steps = match historical {
        None => return Ok(Vec::new()),
        Some(value) if !value.is_truthy() => return Ok(Vec::new()),
        Some(MetricsValue::Array(steps)) => steps,
        Some(_) => return Err(ExpandError::BadStep(0)),
    };
    let order = format.and_then(|f| f.historical_data_order.as_ref());
    steps
        .iter()
        .enumerate()
        .map(|(index, step)| match step {
            MetricsValue::Array(values) => {
                let order = order.ok_or(ExpandError::NoHistoricalOrder)?;
                if values.len() > order.len() {
                    return Err(ExpandError::TooManyValues {
                        field: format!("historical_data[{index}]"),
                        names: order.len(),
                    });
                }
                let mut named = Vec::with_capacity(values.len());
                for (name, value) in order.iter().zip(values) {
                    MetricsValue::insert(&mut named, name.clone(), value.clone());
                }
                Ok(named)
            }
            MetricsValue::Object(fields) => {
                let mut named = Vec::with_capacity(fields.len());
                for (key, value) in fields {
                    let position = key
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                        .then(|| key.parse::<usize>().ok())
                        .flatten()
                        .filter(|_| !key.is_empty());
                    let name = match (position, order) {
                        (Some(i), Some(order)) if i < order.len() => order[i].clone(),
                        _ => key.clone(),
                    };
                    MetricsValue::insert(&mut named, name, value.clone());
                }
                Ok(named)
            }
            _ => Err(ExpandError::BadStep(index)),
        })
        .collect()
}

/// Gives every step its `timestamp`, starting from `collected_at` (the
/// data's collection time): a step's own truthy `timestamp` resets the
/// running time, a `relative_time` moves it and is replaced by the
/// `timestamp` it gives, and any other step after the first moves it by
/// the interval.
pub fn fill_timestamps(
    steps: &mut [Fields],
    collected_at: i64,
    interval: Option<i64>,
) -> Result<(), ExpandError> {
    let mut running = collected_at;
    for (index, step) in steps.iter_mut().enumerate() {
        let get = |step: &Fields, name: &str| step.iter().position(|(k, _)| k == name);
        if let Some(at) = get(step, "relative_time").filter(|&i| step[i].1 != MetricsValue::Null) {
            running += whole_seconds(
                &step[at].1,
                &format!("historical_data[{index}].relative_time"),
            )?;
            MetricsValue::insert(
                step,
                "timestamp".into(),
                MetricsValue::Int(running.to_string()),
            );
            step.retain(|(k, _)| k != "relative_time");
        } else if let Some(at) = get(step, "timestamp").filter(|&i| step[i].1.is_truthy()) {
            running = whole_seconds(&step[at].1, &format!("historical_data[{index}].timestamp"))?;
        } else {
            if index != 0 {
                running += interval.ok_or(ExpandError::NoInterval(index))?;
            }
            MetricsValue::insert(
                step,
                "timestamp".into(),
                MetricsValue::Int(running.to_string()),
            );
        }
    }
    Ok(())
}

/// The whole request in the simple form, without its auth, as
/// `get_simple_metrics` answers it. `received_at` stands in for the
/// request's time when it sent none.
pub fn simple_metrics(
    request: &MetricsRequest,
    format: Option<&DataFormat>,
    received_at: i64,
) -> Result<MetricsValue, ExpandError> {
    let request_time = match request.timestamp() {
        Some(value) => whole_seconds(value, "timestamp")?,
        None => received_at,
    };
    let collected_at = match request.field("data_collection_timestamp") {
        Some(value) => whole_seconds(value, "data_collection_timestamp")?,
        None => request_time,
    };
    let data = simple_data(request.field("data"), format)?;
    let mut steps = simple_steps(request.field("historical_data"), format)?;
    fill_timestamps(
        &mut steps,
        collected_at,
        format.and_then(|f| f.historical_data_interval),
    )?;
    let mut fields: Fields = request
        .fields
        .iter()
        .filter(|(k, _)| k != "auth")
        .cloned()
        .collect();
    MetricsValue::insert(&mut fields, "data".into(), MetricsValue::Object(data));
    MetricsValue::insert(
        &mut fields,
        "historical_data".into(),
        MetricsValue::Array(steps.into_iter().map(MetricsValue::Object).collect()),
    );
    Ok(MetricsValue::Object(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(text: &str) -> DataFormat {
        DataFormat::from_value(&MetricsValue::parse(text).unwrap()).unwrap()
    }

    /// The specification's condensed example against its registered format
    /// (id 12), received at the simple example's time, gives the simple
    /// example's data and times.
    #[test]
    fn the_specification_s_condensed_example_expands_to_its_simple_one() {
        let format = format(
            r#"{"data_order":["token_count","tampered","firmware_version"],
                "historical_data_interval":-60,
                "historical_data_order":["panel_voltage","battery_voltage","panel_current",
                    "battery_current","usb_load_1_current","usb_load_2_current",
                    "overload_alert","timestamp"]}"#,
        );
        let body = r#"{"sn":"A111222","df":12,"d":[13,0,"1.14.2"],
            "hd":[[17.5,12.5,2.2,3.2],[15.7,12.6,2.2,3.2,0.7]],"a":"sa0"}"#;
        let request = MetricsRequest::parse(body).unwrap();
        let simple = simple_metrics(&request, Some(&format), 1_611_583_070).unwrap();
        assert_eq!(
            simple.to_metrics_json(),
            concat!(
                r#"{"serial_number":"A111222","data_format_id":12,"#,
                r#""data":{"token_count":13,"tampered":0,"firmware_version":"1.14.2"},"#,
                r#""historical_data":[{"panel_voltage":17.5,"battery_voltage":12.5,"#,
                r#""panel_current":2.2,"battery_current":3.2,"timestamp":1611583070},"#,
                r#"{"panel_voltage":15.7,"battery_voltage":12.6,"panel_current":2.2,"#,
                r#""battery_current":3.2,"usb_load_1_current":0.7,"timestamp":1611583010}]}"#
            )
        );
    }

    #[test]
    fn values_beyond_the_format_are_refused_not_dropped() {
        let f = format(r#"{"data_order":["a","b"],"historical_data_order":["x"]}"#);
        let data = MetricsValue::parse("[1,2,3]").unwrap();
        assert_eq!(
            simple_data(Some(&data), Some(&f)),
            Err(ExpandError::TooManyValues {
                field: "data".into(),
                names: 2
            })
        );
        let steps = MetricsValue::parse("[[1],[1,2]]").unwrap();
        assert!(matches!(
            simple_steps(Some(&steps), Some(&f)),
            Err(ExpandError::TooManyValues { field, .. }) if field == "historical_data[1]"
        ));
    }

    #[test]
    fn arrays_need_their_order_and_untimed_steps_their_interval() {
        let data = MetricsValue::parse("[1]").unwrap();
        assert_eq!(
            simple_data(Some(&data), None),
            Err(ExpandError::NoDataOrder)
        );
        let steps = MetricsValue::parse("[[1]]").unwrap();
        assert_eq!(
            simple_steps(Some(&steps), None),
            Err(ExpandError::NoHistoricalOrder)
        );
        let mut untimed = vec![Vec::new(), Vec::new()];
        assert_eq!(
            fill_timestamps(&mut untimed, 100, None),
            Err(ExpandError::NoInterval(1))
        );
        let mut newest_first = vec![Vec::new(), Vec::new()];
        fill_timestamps(&mut newest_first, 100, Some(-60)).unwrap();
        assert_eq!(
            newest_first[1],
            vec![("timestamp".into(), MetricsValue::Int("40".into()))]
        );
        assert!(
            DataFormat::from_value(&MetricsValue::parse(r#"{"data_order":"a"}"#).unwrap()).is_err()
        );
    }
}
