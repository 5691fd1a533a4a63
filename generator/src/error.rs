//! What can be wrong with a `BuilderPlayground`, said so a user can find it.

use std::fmt;

/// One problem in a spec: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The service it concerns, when it concerns one.
    pub service: Option<String>,
    /// The field, relative to the service (`args[3]`, `ports[0].port`) or to the object
    /// (`spec.storage.type`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl SpecError {
    /// A problem in a field of a service.
    pub fn service(service: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError { service: Some(service.to_owned()), field: field.into(), message: message.into() }
    }

    /// A problem in a field outside the services.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError { service: None, field: field.into(), message: message.into() }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.service {
            Some(service) => write!(f, "service {service:?}: {}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

/// Every problem found in a spec, in the order of the spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecErrors(pub Vec<SpecError>);

impl SpecErrors {
    /// The problems, first one first.
    pub fn iter(&self) -> impl Iterator<Item = &SpecError> {
        self.0.iter()
    }
}

impl From<SpecError> for SpecErrors {
    fn from(e: SpecError) -> Self {
        SpecErrors(vec![e])
    }
}

/// One line: the first three problems, then how many more.
impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 3;
        for (i, e) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        if self.0.len() > SHOWN {
            write!(f, "; and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_shows_three_problems_then_counts_the_rest() {
        let errors = |n: usize| {
            SpecErrors((0..n).map(|i| SpecError::service(&format!("s{i}"), "image", "the image is empty")).collect())
        };
        let line = |i: usize| format!("service \"s{i}\": image: the image is empty");
        assert_eq!(errors(1).to_string(), line(0));
        assert_eq!(errors(3).to_string(), format!("{}; {}; {}", line(0), line(1), line(2)), "three: no count");
        assert_eq!(errors(4).to_string(), format!("{}; {}; {}; and 1 more", line(0), line(1), line(2)));
        assert_eq!(errors(10).to_string(), format!("{}; {}; {}; and 7 more", line(0), line(1), line(2)));
        assert_eq!(errors(0).to_string(), "");
    }
}
