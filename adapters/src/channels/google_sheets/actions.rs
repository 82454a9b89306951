//! Google Sheets actions on the Sheets API v4 `values` collection, with the integration's
//! Bearer access token (refreshed by the engine through the channel's sender when refused):
//!
//! - `append_row`: `POST /v4/spreadsheets/{id}/values/{range}:append?valueInputOption=…&insertDataOption=INSERT_ROWS`
//!   with `{"majorDimension": "ROWS", "values": [row]}`, answered `{"tableRange", "updates": {…}}`;
//! - `read_range`: `GET /v4/spreadsheets/{id}/values/{range}?majorDimension=…`, answered
//!   `{"range", "majorDimension", "values"}` (`values` absent for an empty range);
//! - `update_range`: `PUT /v4/spreadsheets/{id}/values/{range}?valueInputOption=…` with
//!   `{"range", "majorDimension": "ROWS", "values"}`, answered `{"updatedRange", …}`.
//!
//! The spreadsheet is the input's `spreadsheet_id`, else the integration's; `append_row`'s
//! range is the input's, else the `range` auth field or platform setting, else `A:C`. (The API
//! fills absent inputs from the integration's settings of the same name before this runs.)
//! `RAW` is the default value input option, so a text starting with `=` stays text. Failures
//! are classified as the sender's are.

use crate::channels::action::{field_problem, TypedAction};
use crate::channels::google_sheets::outbound::{classify, DEFAULT_RANGE, RANGE, SPREADSHEET_ID};
use crate::channels::sender::{response_json, retry_after_header, SendError, SendTarget};
use crate::egress::EgressHttp;
use async_trait::async_trait;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use switchboard_domain::action::ActionId;
use switchboard_domain::FieldProblem;
use utoipa::ToSchema;

/// One cell: text, a number or a boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Cell {
    /// Text (kept as typed with `RAW`).
    Text(String),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
}

/// How the Sheets API reads the values written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValueInputOption {
    /// As typed: `=1+1` stays text.
    #[default]
    Raw,
    /// As if typed in the UI: formulas and dates are parsed.
    UserEntered,
}

impl ValueInputOption {
    fn wire(self) -> &'static str {
        match self {
            Self::Raw => "RAW",
            Self::UserEntered => "USER_ENTERED",
        }
    }
}

/// Whether `values` are rows or columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MajorDimension {
    /// Each inner list is a row.
    #[default]
    Rows,
    /// Each inner list is a column.
    Columns,
}

impl MajorDimension {
    fn wire(self) -> &'static str {
        match self {
            Self::Rows => "ROWS",
            Self::Columns => "COLUMNS",
        }
    }
}

/// What `append_row` is given.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendRowInput {
    /// The spreadsheet (default: the integration's).
    #[schema(max_length = 200)]
    pub spreadsheet_id: Option<String>,
    /// The A1 range whose table the row is appended to (default: the `range` setting, else `A:C`).
    #[schema(max_length = 200)]
    pub range: Option<String>,
    /// The row's cells, left to right.
    #[schema(min_items = 1, max_items = 1000)]
    pub values: Vec<Cell>,
    /// `raw` (default) or `user_entered`.
    pub value_input_option: Option<ValueInputOption>,
}

/// What `read_range` is given.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRangeInput {
    /// The spreadsheet (default: the integration's).
    #[schema(max_length = 200)]
    pub spreadsheet_id: Option<String>,
    /// The A1 range to read (`Sheet1!A1:C10`).
    #[schema(min_length = 1, max_length = 200)]
    pub range: String,
    /// `rows` (default) or `columns`.
    pub major_dimension: Option<MajorDimension>,
}

/// What `update_range` is given.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRangeInput {
    /// The spreadsheet (default: the integration's).
    #[schema(max_length = 200)]
    pub spreadsheet_id: Option<String>,
    /// The A1 range to overwrite (`Sheet1!A2:C3`).
    #[schema(min_length = 1, max_length = 200)]
    pub range: String,
    /// The rows to write, each a list of cells.
    #[schema(min_items = 1, max_items = 1000)]
    pub values: Vec<Vec<Cell>>,
    /// `raw` (default) or `user_entered`.
    pub value_input_option: Option<ValueInputOption>,
}

/// Where values were written (`append_row`, `update_range`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpdatedRange {
    /// The spreadsheet.
    pub spreadsheet_id: String,
    /// The table the row was appended to (`append_row` only).
    pub table_range: Option<String>,
    /// The cells written, in A1 notation (`Sheet1!A5:C5`).
    pub updated_range: String,
    /// Rows written.
    pub updated_rows: u64,
    /// Columns written.
    pub updated_columns: u64,
    /// Cells written.
    pub updated_cells: u64,
}

/// What `read_range` answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RangeValues {
    /// The range read, as the API names it.
    pub range: String,
    /// `rows` or `columns`.
    pub major_dimension: MajorDimension,
    /// The values (empty trailing rows and cells omitted, as the API does).
    pub values: Vec<Vec<Cell>>,
}

/// The Sheets `values` calls.
#[derive(Clone)]
struct Values {
    http: EgressHttp,
}

impl Values {
    async fn call(
        &self,
        method: Method,
        target: &SendTarget,
        spreadsheet: &str,
        range_path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value, SendError> {
        let not_url = || SendError::Permanent("the Sheets API base is not a URL".into());
        let mut url =
            reqwest::Url::parse(&target.url("/v4/spreadsheets")).map_err(|_| not_url())?;
        url.path_segments_mut()
            .map_err(|()| not_url())?
            .push(spreadsheet)
            .push("values")
            .push(range_path);
        for (name, value) in query {
            url.query_pairs_mut().append_pair(name, value);
        }
        let token = target.secret("access_token")?;
        let mut request = self.http.request(method, url)?.bearer_auth(token.expose());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(SendError::from_transport)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer = response_json(response).await?;
        if status.is_success() {
            Ok(answer)
        } else {
            Err(classify(status, retry_after, &answer))
        }
    }
}

/// The spreadsheet of the call: the input's, else the integration's.
fn spreadsheet(target: &SendTarget, given: &Option<String>) -> Result<String, SendError> {
    match given {
        Some(id) => Ok(id.clone()),
        None => Ok(target.secret(SPREADSHEET_ID)?.expose().to_owned()),
    }
}

/// Whether `range` is A1 notation (`A:C`, `Sheet1!A1:C10`, `'My sheet'!B2`) or a sheet or
/// named range (`Sheet1`, `Totals`).
pub fn is_a1_range(range: &str) -> bool {
    let cells = match range.rsplit_once('!') {
        Some((sheet, cells)) => {
            let quoted = sheet.len() >= 2 && sheet.starts_with('\'') && sheet.ends_with('\'');
            if sheet.is_empty() || (!quoted && sheet.contains(['\'', '!'])) {
                return false;
            }
            cells
        }
        None => range,
    };
    let cell = |c: &str| {
        let letters = c.bytes().take_while(u8::is_ascii_alphabetic).count();
        let digits = &c[letters..];
        letters <= 3 && digits.bytes().all(|b| b.is_ascii_digit()) && !c.is_empty()
    };
    let named = |c: &str| {
        c.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b' ')
    };
    match cells.split_once(':') {
        Some((from, to)) => cell(from) && cell(to),
        None => cell(cells) || named(cells),
    }
}

fn check_range(range: Option<&str>, found: &mut Vec<FieldProblem>) {
    if let Some(range) = range {
        if !is_a1_range(range) {
            found.push(field_problem("range", "is not an A1 range (Sheet1!A1:C10)"));
        }
    }
}

fn check_spreadsheet(id: &Option<String>, found: &mut Vec<FieldProblem>) {
    let valid = |id: &str| {
        !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if id.as_deref().is_some_and(|id| !valid(id)) {
        found.push(field_problem("spreadsheet_id", "is not a spreadsheet id"));
    }
}

fn updated(answer: &Value, spreadsheet: &str, table_range: Option<String>) -> UpdatedRange {
    let count = |name: &str| answer[name].as_u64().unwrap_or_default();
    UpdatedRange {
        spreadsheet_id: answer["spreadsheetId"]
            .as_str()
            .unwrap_or(spreadsheet)
            .to_owned(),
        table_range,
        updated_range: answer["updatedRange"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        updated_rows: count("updatedRows"),
        updated_columns: count("updatedColumns"),
        updated_cells: count("updatedCells"),
    }
}

/// `append_row`.
#[derive(Clone)]
pub struct AppendRow(Values);

/// `read_range`.
#[derive(Clone)]
pub struct ReadRange(Values);

/// `update_range`.
#[derive(Clone)]
pub struct UpdateRange(Values);

impl AppendRow {
    /// Calling the API through `http`.
    pub fn new(http: EgressHttp) -> Self {
        Self(Values { http })
    }
}

impl ReadRange {
    /// Calling the API through `http`.
    pub fn new(http: EgressHttp) -> Self {
        Self(Values { http })
    }
}

impl UpdateRange {
    /// Calling the API through `http`.
    pub fn new(http: EgressHttp) -> Self {
        Self(Values { http })
    }
}

#[async_trait]
impl TypedAction for AppendRow {
    type Input = AppendRowInput;
    type Output = UpdatedRange;
    const NAME: &'static str = "append_row";
    const DESCRIPTION: &'static str = "Appends one row after the last row of a range's table.";

    fn validate(&self, input: &AppendRowInput) -> Vec<FieldProblem> {
        let mut found = Vec::new();
        check_spreadsheet(&input.spreadsheet_id, &mut found);
        check_range(input.range.as_deref(), &mut found);
        found
    }

    async fn execute(
        &self,
        target: &SendTarget,
        _action_id: ActionId,
        input: AppendRowInput,
    ) -> Result<UpdatedRange, SendError> {
        let spreadsheet = spreadsheet(target, &input.spreadsheet_id)?;
        let range = match input.range {
            Some(range) => range,
            None => target
                .secrets
                .get(RANGE)
                .map(|r| r.expose().to_owned())
                .unwrap_or_else(|_| DEFAULT_RANGE.to_owned()),
        };
        let option = input.value_input_option.unwrap_or_default().wire();
        let query = [
            ("valueInputOption", option),
            ("insertDataOption", "INSERT_ROWS"),
        ];
        let body = json!({"majorDimension": "ROWS", "values": [input.values]});
        let path = format!("{range}:append");
        let answer = self
            .0
            .call(
                Method::POST,
                target,
                &spreadsheet,
                &path,
                &query,
                Some(body),
            )
            .await?;
        let table = answer["tableRange"].as_str().map(str::to_owned);
        Ok(updated(&answer["updates"], &spreadsheet, table))
    }
}

#[async_trait]
impl TypedAction for ReadRange {
    type Input = ReadRangeInput;
    type Output = RangeValues;
    const NAME: &'static str = "read_range";
    const DESCRIPTION: &'static str = "Reads the values of a range.";

    fn validate(&self, input: &ReadRangeInput) -> Vec<FieldProblem> {
        let mut found = Vec::new();
        check_spreadsheet(&input.spreadsheet_id, &mut found);
        check_range(Some(&input.range), &mut found);
        found
    }

    async fn execute(
        &self,
        target: &SendTarget,
        _action_id: ActionId,
        input: ReadRangeInput,
    ) -> Result<RangeValues, SendError> {
        let spreadsheet = spreadsheet(target, &input.spreadsheet_id)?;
        let dimension = input.major_dimension.unwrap_or_default();
        let query = [("majorDimension", dimension.wire())];
        let answer = self
            .0
            .call(
                Method::GET,
                target,
                &spreadsheet,
                &input.range,
                &query,
                None,
            )
            .await?;
        let values = match answer.get("values") {
            Some(values) => serde_json::from_value(values.clone()).map_err(|_| {
                SendError::Permanent("the Sheets API answered values that are not cells".into())
            })?,
            None => Vec::new(),
        };
        Ok(RangeValues {
            range: answer["range"].as_str().unwrap_or(&input.range).to_owned(),
            major_dimension: dimension,
            values,
        })
    }
}

#[async_trait]
impl TypedAction for UpdateRange {
    type Input = UpdateRangeInput;
    type Output = UpdatedRange;
    const NAME: &'static str = "update_range";
    const DESCRIPTION: &'static str = "Overwrites the values of a range.";

    fn validate(&self, input: &UpdateRangeInput) -> Vec<FieldProblem> {
        let mut found = Vec::new();
        check_spreadsheet(&input.spreadsheet_id, &mut found);
        check_range(Some(&input.range), &mut found);
        found
    }

    async fn execute(
        &self,
        target: &SendTarget,
        _action_id: ActionId,
        input: UpdateRangeInput,
    ) -> Result<UpdatedRange, SendError> {
        let spreadsheet = spreadsheet(target, &input.spreadsheet_id)?;
        let option = input.value_input_option.unwrap_or_default().wire();
        let query = [("valueInputOption", option)];
        let body = json!({"range": input.range, "majorDimension": "ROWS", "values": input.values});
        let answer = self
            .0
            .call(
                Method::PUT,
                target,
                &spreadsheet,
                &input.range,
                &query,
                Some(body),
            )
            .await?;
        Ok(updated(&answer, &spreadsheet, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a1_ranges_and_sheet_names_are_accepted_and_other_text_is_not() {
        for good in [
            "A:C",
            "Sheet1!A1:C10",
            "'My sheet'!B2",
            "Sheet1",
            "Totals",
            "A1",
        ] {
            assert!(is_a1_range(good), "{good}");
        }
        for bad in [
            "",
            "!A1",
            "A1:",
            "Sheet1!A1:C10:D",
            "A 1:B2",
            "1A",
            "a'b!A1",
        ] {
            assert!(!is_a1_range(bad), "{bad}");
        }
    }
}
